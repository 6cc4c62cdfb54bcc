// Starts, stops and restarts target/release/tether for a test, on 127.0.0.1 only.
"use strict";
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const net = require("node:net");

/** Resolves once 127.0.0.1:port accepts a TCP connection; rejects after `ms`. */
function waitForPort(port, ms) {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const sock = net.connect({ host: "127.0.0.1", port });
      sock.once("connect", () => { sock.destroy(); resolve(); });
      sock.once("error", () => {
        sock.destroy();
        if (Date.now() > deadline) reject(new Error(`port ${port} did not open in ${ms} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

class TetherServer {
  /**
   * @param {object} o
   * @param {string} o.bin     path of the tether binary
   * @param {number} o.port    port on 127.0.0.1
   * @param {string[]} o.args  extra flags
   * @param {string} o.log     file that collects the server's stderr/stdout
   * @param {string} [o.pidFile] where the current pid is written (for the script's cleanup)
   */
  constructor(o) {
    Object.assign(this, o);
    this.proc = null;
  }

  async start() {
    const fd = fs.openSync(this.log, "a");
    this.proc = spawn(this.bin, ["--listen", `127.0.0.1:${this.port}`, ...this.args], {
      stdio: ["ignore", fd, fd],
    });
    fs.closeSync(fd);
    if (this.pidFile) fs.writeFileSync(this.pidFile, String(this.proc.pid));
    const exited = new Promise((_, reject) =>
      this.proc.once("exit", (code) => reject(new Error(`server exited early with ${code}`))));
    await Promise.race([waitForPort(this.port, 15000), exited]);
    this.proc.removeAllListeners("exit");
  }

  /** SIGTERM (graceful shutdown), SIGKILL after `ms`; resolves with the exit code. */
  stop(ms = 10000) {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null || p.signalCode !== null) return Promise.resolve(p ? p.exitCode : null);
    return new Promise((resolve) => {
      const timer = setTimeout(() => p.kill("SIGKILL"), ms);
      p.once("exit", (code) => { clearTimeout(timer); resolve(code); });
      p.kill("SIGTERM");
    });
  }
}

module.exports = { TetherServer, waitForPort };
