//! Measurements: process CPU time and RSS from `/proc`, latency histograms, and the one-line JSON report.

use std::fmt::Write as _;
use std::fs;

use hdrhistogram::Histogram;

/// CPU time and memory of a process, read from `/proc/PID/{stat,status}`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcSample {
    /// User + system CPU time of all threads, in microseconds.
    pub cpu_us: f64,
    /// The system (kernel) part of `cpu_us`.
    pub sys_us: f64,
    /// Resident set size in KiB.
    pub rss_kib: u64,
    /// Peak resident set size so far (`VmHWM`) in KiB.
    pub hwm_kib: u64,
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`), the unit of `/proc/PID/stat` times.
fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// CPU used over a measuring window by the server, by this process, and by everything else
/// (a noisy-machine flag), in microseconds; NaN where a sample was not available.
pub struct CpuWindow {
    server: Option<String>,
    server0: Option<ProcSample>,
    self0: Option<ProcSample>,
    busy0: Option<f64>,
}

impl CpuWindow {
    /// Starts a window, sampling the server `pid` if given.
    pub fn start(server: Option<String>) -> CpuWindow {
        CpuWindow {
            server0: server.as_deref().and_then(sample),
            self0: sample("self"),
            busy0: machine_busy_us(),
            server,
        }
    }

    /// Ends the window.
    pub fn finish(&self) -> CpuUse {
        let server1 = self.server.as_deref().and_then(sample);
        let self1 = sample("self");
        let busy1 = machine_busy_us();
        let (server, server_sys) = match (self.server0, server1) {
            (Some(a), Some(b)) => (b.cpu_us - a.cpu_us, b.sys_us - a.sys_us),
            _ => (f64::NAN, f64::NAN),
        };
        let load = match (self.self0, self1) {
            (Some(a), Some(b)) => b.cpu_us - a.cpu_us,
            _ => f64::NAN,
        };
        let other = match (self.busy0, busy1) {
            (Some(a), Some(b)) => b - a - server - load,
            _ => f64::NAN,
        };
        CpuUse {
            server,
            server_sys,
            load,
            other,
        }
    }
}

/// CPU microseconds spent over a [`CpuWindow`]; NaN where a sample was not available.
#[derive(Debug, Clone, Copy)]
pub struct CpuUse {
    /// The server process, user + kernel.
    pub server: f64,
    /// The kernel's part of `server`: what no user-space change in the server can remove.
    pub server_sys: f64,
    /// This process (the load generator).
    pub load: f64,
    /// Everything else on the machine (a noisy-machine flag).
    pub other: f64,
}

impl CpuUse {
    /// The kernel's share of the server's CPU, in percent.
    pub fn server_sys_pct(&self) -> f64 {
        100.0 * self.server_sys / self.server
    }
}

/// Samples `pid` ("self" for this process). `None` when the process is gone.
pub fn sample(pid: &str) -> Option<ProcSample> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |field: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Some(ProcSample {
        cpu_us: (utime + stime) * 1e6 / clk_tck(),
        sys_us: stime * 1e6 / clk_tck(),
        rss_kib: kib("VmRSS:"),
        hwm_kib: kib("VmHWM:"),
    })
}

/// Busy CPU time of the whole machine (all CPUs, every state but idle and iowait), in
/// microseconds, from the first line of `/proc/stat`.
pub fn machine_busy_us() -> Option<f64> {
    let text = fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<f64> = line
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let busy: f64 = v.iter().take(8).sum::<f64>() - v.get(3)? - v.get(4).unwrap_or(&0.0);
    Some(busy * 1e6 / clk_tck())
}

/// A field of `/proc/meminfo` in KiB (e.g. `"Slab"`: kernel objects such as sockets).
pub fn meminfo_kib(key: &str) -> Option<u64> {
    let text = fs::read_to_string("/proc/meminfo").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A latency histogram in nanoseconds, 1 ns to 100 s at 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    // Bounds are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, 100_000_000_000, 3).unwrap_or_else(|_| {
        Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant figures is valid"))
    })
}

/// Records `ns`, clamped into the histogram's range.
pub fn record(h: &mut Histogram<u64>, ns: u64) {
    let _ = h.record(ns.clamp(1, h.high()));
}

/// Latency percentiles in microseconds: p50, p99, p99.9, max.
pub fn percentiles_us(h: &Histogram<u64>) -> [f64; 4] {
    let us = |v: u64| v as f64 / 1000.0;
    [
        us(h.value_at_quantile(0.50)),
        us(h.value_at_quantile(0.99)),
        us(h.value_at_quantile(0.999)),
        us(h.max()),
    ]
}

/// A flat JSON object built field by field (numbers, strings, bools).
#[derive(Debug, Default)]
pub struct Json(String);

impl Json {
    /// An empty object.
    pub fn new() -> Json {
        Json(String::new())
    }

    fn key(&mut self, k: &str) {
        self.0.push(if self.0.is_empty() { '{' } else { ',' });
        let _ = write!(self.0, "\"{k}\":");
    }

    /// Adds a number (non-finite values become `null`).
    pub fn num(mut self, k: &str, v: f64) -> Json {
        self.key(k);
        if v.is_finite() {
            let _ = write!(self.0, "{}", (v * 1000.0).round() / 1000.0);
        } else {
            self.0.push_str("null");
        }
        self
    }

    /// Adds an integer.
    pub fn int(mut self, k: &str, v: u64) -> Json {
        self.key(k);
        let _ = write!(self.0, "{v}");
        self
    }

    /// Adds a string (quotes and backslashes escaped; control characters dropped).
    pub fn str(mut self, k: &str, v: &str) -> Json {
        self.key(k);
        self.0.push('"');
        for c in v.chars() {
            match c {
                '"' | '\\' => {
                    self.0.push('\\');
                    self.0.push(c);
                }
                c if c.is_control() => {}
                c => self.0.push(c),
            }
        }
        self.0.push('"');
        self
    }

    /// Adds a boolean.
    pub fn bool(mut self, k: &str, v: bool) -> Json {
        self.key(k);
        self.0.push_str(if v { "true" } else { "false" });
        self
    }

    /// The finished object.
    pub fn finish(mut self) -> String {
        if self.0.is_empty() {
            self.0.push('{');
        }
        self.0.push('}');
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_time_is_part_of_cpu_time() {
        // Spend CPU in both modes: system calls (kernel) and a loop (user).
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(300) {
            let _ = fs::metadata("/proc/self/stat");
            for i in 0..10_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
        }
        std::hint::black_box(x);
        let s = sample("self").expect("/proc/self is readable");
        assert!(s.cpu_us > 0.0, "{s:?}");
        assert!(s.sys_us >= 0.0 && s.sys_us <= s.cpu_us, "{s:?}");
        let used = CpuUse {
            server: 200.0,
            server_sys: 150.0,
            load: 0.0,
            other: 0.0,
        };
        assert_eq!(used.server_sys_pct(), 75.0);
    }

    #[test]
    fn json_is_flat_and_escaped() {
        let j = Json::new()
            .str("mode", "echo \"x\"")
            .int("n", 3)
            .num("r", 1.23456)
            .num("bad", f64::NAN)
            .bool("ok", true)
            .finish();
        assert_eq!(
            j,
            r#"{"mode":"echo \"x\"","n":3,"r":1.235,"bad":null,"ok":true}"#
        );
        assert_eq!(Json::new().finish(), "{}");
    }

    #[test]
    fn samples_self() {
        let s = sample("self").expect("/proc/self");
        assert!(s.rss_kib > 0);
        assert!(sample("999999999").is_none());
        assert!(meminfo_kib("MemTotal").is_some_and(|v| v > 0));
        assert!(machine_busy_us().is_some_and(|v| v > 0.0));
    }

    #[test]
    fn percentiles() {
        let mut h = histogram();
        for v in 1..=1000u64 {
            record(&mut h, v * 1000);
        }
        let [p50, p99, _, max] = percentiles_us(&h);
        assert!((499.0..=501.0).contains(&p50), "{p50}");
        assert!((989.0..=991.0).contains(&p99), "{p99}");
        assert!((999.0..=1001.0).contains(&max), "{max}");
    }
}
