//! The run's setup, recorded beside its results so figures can be read in context and runs
//! compared honestly: machine, cores, kernel, compiler, git revision, load-gen version.

use std::process::Command;

use pushbench_results::model::Pinning;
pub use pushbench_results::model::Setup;

fn command(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Reads the machine now; `server` says how the server under test ran, `software` which server
/// it was, `pinning` on which cores.
pub fn capture(server: &str, software: &str, pinning: Option<Pinning>) -> Setup {
    let cpuinfo = read("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let memory_bytes = read("/proc/meminfo")
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024);
    let git_revision = command("git", &["rev-parse", "HEAD"]).map_or_else(
        || "unknown".into(),
        |rev| {
            let dirty = command("git", &["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{rev}-dirty")
            } else {
                rev
            }
        },
    );
    Setup {
        hostname: read("/proc/sys/kernel/hostname").unwrap_or_else(|| "unknown".into()),
        cpu,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_bytes,
        kernel: read("/proc/sys/kernel/osrelease").unwrap_or_else(|| "unknown".into()),
        tcp_congestion_control: read("/proc/sys/net/ipv4/tcp_congestion_control"),
        rustc: command("rustc", &["-V"]).unwrap_or_else(|| "unknown".into()),
        git_revision,
        load_gen_version: env!("CARGO_PKG_VERSION").into(),
        server: server.into(),
        server_software: Some(software.into()),
        server_threads: None,
        pinning,
        // Filled in by the first run over TLS, once a connection has settled it.
        tls: None,
    }
}
