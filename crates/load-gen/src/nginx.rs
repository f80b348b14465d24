//! nginx as a child of load-gen, for both of its roles: the server under test with the Nchan
//! module ([`crate::nchan`]) and the reverse proxy of `--via` ([`crate::proxy`]). Here is what
//! the two share: finding the executable, its version, and the top of a configuration that runs
//! one worker in the foreground with every file it writes under a scratch prefix, so a run
//! leaves nothing behind and never touches the system's own nginx.

use std::path::{Path, PathBuf};

/// What to install where nginx is missing.
pub const INSTALL: &str = "on Debian: apt-get install nginx-light libnginx-mod-nchan";

/// Finds nginx: `$PUSHBENCH_NGINX`, else `nginx` on the `PATH` or in `/usr/sbin`. The error says
/// what to install.
pub fn find() -> Result<PathBuf, String> {
    match std::env::var_os("PUSHBENCH_NGINX") {
        Some(p) if Path::new(&p).is_file() => Ok(PathBuf::from(p)),
        Some(p) => Err(format!(
            "PUSHBENCH_NGINX={} is not a file",
            Path::new(&p).display()
        )),
        None => std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
            .map(|d| d.join("nginx"))
            .find(|p| p.is_file())
            .ok_or_else(|| format!("nginx was not found ({INSTALL}, or set PUSHBENCH_NGINX)")),
    }
}

/// `nginx/1.22.1`, from `nginx -v`.
pub fn version(nginx: &Path) -> Option<String> {
    let out = std::process::Command::new(nginx).arg("-v").output().ok()?;
    let text = String::from_utf8_lossy(&out.stderr);
    Some(
        text.trim()
            .trim_start_matches("nginx version:")
            .trim()
            .to_owned(),
    )
}

/// The top of a configuration, up to and including `http {` with access logging off and the
/// temporary files under `prefix`; the caller adds its servers and closes the block. One worker
/// holds `connections` (a proxied connection counts twice: client and upstream).
pub fn head(purpose: &str, prefix: &Path, module: Option<&Path>, connections: usize) -> String {
    let prefix = prefix.display();
    let load = module.map_or(String::new(), |m| format!("load_module {};\n", m.display()));
    format!(
        "# Written by pushbench load-gen for {purpose}.\n\
         {load}\
         worker_processes 1;\n\
         worker_rlimit_nofile {files};\n\
         daemon off;\n\
         pid {prefix}/nginx.pid;\n\
         error_log stderr warn;\n\
         events {{\n    worker_connections {conns};\n    multi_accept on;\n}}\n\
         http {{\n\
         \x20   access_log off;\n\
         \x20   client_body_temp_path {prefix}/body;\n\
         \x20   proxy_temp_path {prefix}/proxy;\n\
         \x20   fastcgi_temp_path {prefix}/fastcgi;\n\
         \x20   uwsgi_temp_path {prefix}/uwsgi;\n\
         \x20   scgi_temp_path {prefix}/scgi;\n",
        files = connections + 1024,
        conns = connections + 256,
    )
}
