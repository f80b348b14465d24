//! `load-gen`: `run` a scenario, `validate` a scenario file, `report` on results folders,
//! `compare` two runs, or (internally) serve as the embedded `push-server`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use load_gen::affinity;
use load_gen::profile::ServerKind;
use load_gen::proxy::Via;
use load_gen::runner::{self, Options};
use load_gen::scenario::Scenario;
use pushbench_report::figures::terminal_table;
use pushbench_results::model::Pinning;
use pushbench_wire::Transport;
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

/// The embedded push-server runs in this binary: the same allocator as `push-server`'s (see its
/// `main.rs`), so both measure the same server.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Drives the same workload through every push transport and measures each.
#[derive(Debug, Parser)]
#[command(name = "load-gen", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario and write results/<UTC timestamp>-<scenario>/.
    Run(RunArgs),
    /// Check a scenario file without running it.
    Validate {
        /// Scenario files.
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
    },
    /// Write report.html and the PNG charts of a results folder, from summary.json and the
    /// .hlog files; several folders (shards or repeats of one scenario) are merged first. A
    /// sweep's folder gets its capacity.png drawn again and its capacity table printed.
    Report {
        /// Results folders, e.g. results/20261121T090019Z-quick.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where to write (default: the folder itself, or <first folder>-merged beside it when
        /// merging).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Compare two runs: per transport and figure, the ratio B/A, here and as compare.html.
    Compare {
        /// The baseline results folder.
        run_a: PathBuf,
        /// The results folder compared with it.
        run_b: PathBuf,
        /// Where to write the page (default: RUN_B/compare.html).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Serve as push-server (how `run` starts its embedded server; same flags as push-server).
    #[command(hide = true)]
    PushServer(pushbench_server::cli::Args),
}

/// `load-gen run`'s flags.
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The scenario file, e.g. scenarios/quick.toml.
    scenario: PathBuf,
    /// Drive an already running server at http://HOST:PORT instead of starting push-server.
    #[arg(long)]
    target: Option<String>,
    /// With --target: the server's raw TCP address (raw-tcp is skipped without it).
    #[arg(long)]
    target_tcp: Option<SocketAddr>,
    /// The servers (comma-separated): `pushbench` (push-server, embedded) and/or `nchan` (nginx
    /// with the Nchan module, started on a free loopback port; needs Debian's nginx-light and
    /// libnginx-mod-nchan). With several, every transport runs on each and results are named
    /// `<transport>@<server>`, side by side. With --target, the one profile to drive that
    /// server with: a built-in name or a profile file (`myserver.toml`, see the README).
    /// Transports a server does not serve are skipped.
    #[arg(long, value_delimiter = ',', default_value = "pushbench")]
    server: Vec<ServerKind>,
    /// How subscribers reach the server (comma-separated, each run in turn): `direct`, `nginx`
    /// (a real nginx reverse proxy with nothing but `proxy_pass`: nginx's defaults) or
    /// `nginx-tuned` (configured for push: no buffering, upgrades passed on, long read
    /// timeouts, kept-alive upstream). Publishers always publish to the server directly; raw-tcp
    /// never goes through a proxy. With a proxy, results are named `<transport>@<server>+<via>`.
    #[arg(long, value_delimiter = ',', default_value = "direct")]
    via: Vec<Via>,
    /// Run only these transports (comma-separated), overriding the scenario.
    #[arg(long, value_delimiter = ',')]
    transports: Option<Vec<Transport>>,
    /// Where run folders go.
    #[arg(long, default_value = "results")]
    results: PathBuf,
    /// An extra flag for the embedded push-server, e.g. --server-arg=--ring-size=4096 (repeatable).
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
    /// Run only shard K of N: topics t with t % N == K and their clients (merge the shards'
    /// folders with `load-gen report`).
    #[arg(long, default_value = "0/1")]
    shard: runner::Shard,
    /// Threads for load-gen's clients [default: one per core load-gen is pinned to, or half
    /// the cores unpinned; at least one]. One thread is a single event loop, the cheapest per
    /// message; a transport is flagged generator-bound if load-gen kept its cores (unpinned:
    /// its threads) more than 90% busy.
    #[arg(long)]
    threads: Option<std::num::NonZeroUsize>,
    /// Run every transport this many times, interleaved, overriding the scenario's `repeat`.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=100))]
    repeat: Option<u16>,
    /// Let the embedded server and load-gen share every core instead of splitting them.
    #[arg(long)]
    no_pin: bool,
    /// The embedded server's cores, e.g. 1 or 2-3 [default: the upper half of the cores this
    /// process may use]; load-gen runs on the others.
    #[arg(long, value_parser = load_gen::affinity::parse_list, conflicts_with = "no_pin")]
    server_cpus: Option<Vec<usize>>,
    /// Microseconds the pacer thread spins before each publish instead of sleeping: more is
    /// more precise on a noisy machine and costs that much CPU per message (counted as
    /// load-gen's).
    #[arg(long, default_value_t = load_gen::pacer::SPIN.as_micros() as u64)]
    pacer_spin_us: u64,
    /// Microseconds before its time a publisher is woken at most, to spin the rest on the event
    /// loop itself (covers the hand-off from the pacer thread; kept to 5% of a core at high
    /// publish rates).
    #[arg(long, default_value_t = load_gen::pacer::EARLY.as_micros() as u64)]
    pacer_early_us: u64,
    /// Over an emulated link (the scenario's `network`), record every packet on the clients'
    /// TUN device into `<name>.pcap` beside the run's other files, with tcpdump (Debian's
    /// tcpdump package): read it with `tshark -r` or Wireshark.
    #[arg(long)]
    capture: bool,
}

/// `items` without repeats, in the order each first appears.
fn first_of_each<T: PartialEq>(items: Vec<T>) -> Vec<T> {
    let mut kept: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        if !kept.contains(&item) {
            kept.push(item);
        }
    }
    kept
}

/// The cores for `run`: split between the embedded server and load-gen unless `--no-pin`, a
/// `--target` or a single core says otherwise. load-gen's own pinning happens here, on the main
/// thread before any other starts, so every thread it starts later inherits it.
fn pin(args: &RunArgs) -> anyhow::Result<Option<Pinning>> {
    if args.no_pin || args.target.is_some() {
        return Ok(None);
    }
    let pinning = affinity::split(&affinity::available(), args.server_cpus.as_deref())
        .map_err(anyhow::Error::msg)?;
    if let Some(p) = &pinning {
        affinity::pin_current_thread(&p.generator).context("pinning load-gen's threads")?;
    }
    Ok(pinning)
}

/// The runtime for `run`: a single-threaded event loop for one thread, else a pool.
fn generator_runtime(
    threads: Option<std::num::NonZeroUsize>,
    pinning: Option<&Pinning>,
) -> std::io::Result<Runtime> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let default = pinning.map_or(cores.div_ceil(2), |p| p.generator.len());
    let threads = threads.map_or(default, |t| t.get());
    if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let pinning = match &cli.command {
        Command::Run(args) => match pin(args) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    let runtime = match &cli.command {
        Command::Run(args) => generator_runtime(args.threads, pinning.as_ref()),
        Command::PushServer(args) => args.runtime(),
        _ => Runtime::new(),
    }
    .expect("a tokio runtime");
    let result = runtime.block_on(async {
        match cli.command {
            Command::PushServer(args) => {
                pushbench_server::cli::init_logging();
                pushbench_server::cli::serve(args)
                    .await
                    .map(|()| ExitCode::SUCCESS)
            }
            Command::Validate { scenarios } => {
                let mut ok = true;
                for path in scenarios {
                    match Scenario::load(&path) {
                        Ok(s) => println!(
                            "{}: ok ({} transports, {} clients, {:?} + {:?} warm-up each)",
                            path.display(),
                            s.transports.len(),
                            s.clients,
                            s.duration,
                            s.warmup
                        ),
                        Err(e) => {
                            eprintln!("{e}");
                            ok = false;
                        }
                    }
                }
                Ok(if ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(2)
                })
            }
            Command::Run(args) => run(args, pinning).await,
            Command::Report { dirs, out } => report(&dirs, out.as_deref()),
            Command::Compare { run_a, run_b, out } => compare(&run_a, &run_b, out.as_deref()),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn report(dirs: &[PathBuf], out: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    // A sweep's folder: its chart drawn again from sweep.json, and its capacity table.
    if let [dir] = dirs {
        let path = dir.join(runner::sweep::SWEEP_JSON);
        if path.exists() {
            let result: pushbench_results::sweep::SweepResult =
                serde_json::from_slice(&std::fs::read(&path)?)
                    .with_context(|| format!("reading {}", path.display()))?;
            let to = out.unwrap_or(dir);
            std::fs::create_dir_all(to)?;
            pushbench_report::charts::draw_capacity(&result, to)?;
            print!("{}", pushbench_report::sweep::capacity_table(&result));
            println!(
                "\nchart: {}",
                to.join(pushbench_report::charts::CAPACITY_PNG).display()
            );
            return Ok(ExitCode::SUCCESS);
        }
    }
    let (run, written) =
        pushbench_report::report_folders(dirs, out).context("making the report")?;
    println!(
        "{}: {}\n",
        run.summary.scenario,
        run.summary.description.lines().next().unwrap_or("")
    );
    print!("{}", terminal_table(&run.summary));
    for note in &run.notes {
        println!("note: {note}");
    }
    println!("\nreport: {}", written.html.display());
    Ok(ExitCode::SUCCESS)
}

fn compare(
    a: &std::path::Path,
    b: &std::path::Path,
    out: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let (comparison, page) =
        pushbench_report::compare::compare_folders(a, b, out).context("comparing the runs")?;
    print!("{}", pushbench_report::compare::terminal(&comparison));
    println!("\ncompare: {}", page.display());
    Ok(ExitCode::SUCCESS)
}

async fn run(args: RunArgs, pinning: Option<Pinning>) -> anyhow::Result<ExitCode> {
    let RunArgs {
        scenario,
        target,
        target_tcp,
        server,
        via,
        transports,
        results,
        server_args,
        quiet,
        shard,
        threads: _,
        pacer_spin_us,
        pacer_early_us,
        no_pin: _,
        server_cpus: _,
        repeat,
        capture,
    } = args;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let scenario = Scenario::load(&scenario).map_err(anyhow::Error::msg)?;
    let target = target.map(|t| runner::target(&t, target_tcp)).transpose()?;
    let mut transports = transports;
    if let Some(t) = &target {
        if t.tcp.is_none() {
            // Without a raw TCP address there is nothing to measure raw TCP against.
            let list = transports.unwrap_or_else(|| scenario.transports.clone());
            transports = Some(
                list.into_iter()
                    .filter(|t| *t != Transport::RawTcp)
                    .collect(),
            );
        }
    }
    let fds = pushbench_server::cli::raise_fd_limit();
    // One socket per subscriber, a second for HTTP transports' upstream in bidirectional
    // workloads, one per publisher, and room for the rest.
    let per_client = if scenario.direction == load_gen::scenario::Direction::All {
        2
    } else {
        1
    };
    let clients = match &scenario.sweep {
        Some(s) if s.param == pushbench_results::sweep::Param::Clients => {
            s.values.iter().fold(0.0f64, |a, b| a.max(*b)) as usize
        }
        _ => scenario.clients,
    };
    let needed = clients * per_client + scenario.topics + 256;
    if (fds as usize) < needed {
        eprintln!(
            "warning: the open-file limit is {fds}, below the {needed} this scenario may need; raise it with ulimit -n"
        );
    }
    let cancel = CancellationToken::new();
    // Ctrl-C and SIGTERM (`kill`, a service manager, a CI timeout) stop the run the same way:
    // the current transport's books are closed, partial results written, the embedded server
    // and any proxy stopped. The exit code is the shell's for the signal: 130 or 143.
    let interrupted_code = Arc::new(AtomicU8::new(130));
    {
        let cancel = cancel.clone();
        let code = interrupted_code.clone();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("listening for SIGTERM")?;
        tokio::spawn(async move {
            let name = tokio::select! {
                r = tokio::signal::ctrl_c() => match r {
                    Ok(()) => "interrupted",
                    Err(_) => return,
                },
                _ = term.recv() => {
                    code.store(143, Relaxed);
                    "terminated"
                }
            };
            eprintln!(
                "\n{name}: finishing the current transport's books and writing partial results"
            );
            cancel.cancel();
        });
    }
    let opts = Options {
        target,
        results_root: results,
        transports,
        server_args,
        server_exe: None,
        progress: !quiet,
        shard,
        pacer_spin: std::time::Duration::from_micros(pacer_spin_us),
        pacer_early: std::time::Duration::from_micros(pacer_early_us),
        pinning,
        repeat: repeat.map(usize::from),
        // `--server nchan,nchan` is one server, `--via nginx,nginx` one way: their runs would
        // share names and files.
        servers: first_of_each(server),
        via: first_of_each(via),
        capture,
    };
    if let Some(sweep) = &scenario.sweep {
        let (result, dir) = runner::sweep::sweep(&scenario, sweep, &opts, cancel.clone())
            .await
            .context("running the sweep")?;
        println!(
            "\n{}: {}\n",
            scenario.name,
            scenario.description.lines().next().unwrap_or("")
        );
        print!("{}", pushbench_report::sweep::capacity_table(&result));
        println!(
            "\nresults: {} (sweep.json, one folder per step)",
            dir.display()
        );
        return Ok(if cancel.is_cancelled() {
            ExitCode::from(interrupted_code.load(Relaxed))
        } else {
            ExitCode::SUCCESS
        });
    }
    let (summary, dir) = runner::run(&scenario, &opts, cancel.clone())
        .await
        .context("running the scenario")?;
    println!(
        "\n{}: {}\n",
        summary.scenario,
        summary.description.lines().next().unwrap_or("")
    );
    print!("{}", terminal_table(&summary));
    println!("\nresults: {}", dir.display());
    if dir.join(pushbench_report::REPORT_HTML).exists() {
        println!(
            "report:  {}",
            dir.join(pushbench_report::REPORT_HTML).display()
        );
    }
    // A repeat that failed merges into a partial transport; it fails the run all the same.
    let mut failed: Vec<&str> = summary
        .transports
        .iter()
        .chain(&summary.runs)
        .filter(|t| t.status == pushbench_results::Status::Failed)
        .map(|t| t.transport.as_str())
        .collect();
    failed.dedup();
    Ok(if cancel.is_cancelled() {
        ExitCode::from(interrupted_code.load(Relaxed))
    } else if !failed.is_empty() {
        eprintln!("error: failed: {}", failed.join(", "));
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn repeats_are_dropped_and_the_order_kept() {
        assert_eq!(super::first_of_each(vec![2, 1, 2, 3, 1]), [2, 1, 3]);
    }
}
