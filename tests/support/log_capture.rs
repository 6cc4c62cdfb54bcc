//! A logger for one test binary: it keeps every record whose target starts with the given prefix, so tests can check what was logged and at which level.

use std::sync::{Mutex, OnceLock};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Every kept record, from every test in the binary.
pub struct Capture {
    prefix: &'static str,
    lines: Mutex<Vec<(Level, String)>>,
}

impl Log for Capture {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.target().starts_with(self.prefix)
    }
    fn log(&self, r: &Record<'_>) {
        if self.enabled(r.metadata()) {
            let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
            lines.push((r.level(), r.args().to_string()));
        }
    }
    fn flush(&self) {}
}

/// Installs the logger (once per binary), keeping records from targets under `prefix`.
pub fn capture(prefix: &'static str) -> &'static Capture {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let c: &'static Capture = Box::leak(Box::new(Capture {
            prefix,
            lines: Mutex::new(Vec::new()),
        }));
        log::set_logger(c).expect("no other logger in this binary");
        log::set_max_level(LevelFilter::Debug);
        c
    })
}

impl Capture {
    /// The kept lines that contain `needle`, with their levels.
    pub fn lines_with(&self, needle: &str) -> Vec<(Level, String)> {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines
            .iter()
            .filter(|(_, l)| l.contains(needle))
            .cloned()
            .collect()
    }
}
