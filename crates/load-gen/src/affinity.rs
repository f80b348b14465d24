//! Which cores the embedded server and load-gen run on. Sharing cores, each process's CPU
//! steals the other's time slices, so a "generator-bound" flag cannot say which one ran out and
//! latency includes the other's scheduling. With at least two cores, load-gen takes the lower
//! half of the cores it may use and the server the rest (`sched_setaffinity`), so both can be
//! measured against their own capacity. `load-gen run --no-pin` turns it off; `--server-cpus`
//! picks the server's cores (load-gen gets the others). The split is recorded in `setup.json`.

use pushbench_results::model::Pinning;

/// The cores this process may run on, in order.
pub fn available() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it for this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Splits `cpus` between server and generator: the server gets `server` when given (it must be
/// a subset leaving at least one core), else the upper half. `None` with fewer than two cores:
/// there is nothing to split.
pub fn split(cpus: &[usize], server: Option<&[usize]>) -> Result<Option<Pinning>, String> {
    if cpus.len() < 2 {
        return match server {
            Some(_) => Err(format!(
                "--server-cpus needs at least two usable cores; this process may use {cpus:?}"
            )),
            None => Ok(None),
        };
    }
    let server: Vec<usize> = match server {
        Some(s) => {
            if let Some(c) = s.iter().find(|c| !cpus.contains(c)) {
                return Err(format!(
                    "--server-cpus: core {c} is not one this process may use ({cpus:?})"
                ));
            }
            s.to_vec()
        }
        None => cpus[cpus.len() / 2..].to_vec(),
    };
    let generator: Vec<usize> = cpus
        .iter()
        .copied()
        .filter(|c| !server.contains(c))
        .collect();
    if generator.is_empty() || server.is_empty() {
        return Err(format!(
            "--server-cpus {server:?} leaves load-gen no core of {cpus:?}"
        ));
    }
    Ok(Some(Pinning { server, generator }))
}

/// Parses a core list such as `1`, `2,3` or `2-3`.
pub fn parse_list(s: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let num = |x: &str| {
            x.trim()
                .parse::<usize>()
                .map_err(|_| format!("core list {s:?}: {x:?} is not a core number"))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(format!("core list {s:?}: {a}-{b} runs backwards"));
                }
                out.extend(a..=b);
            }
            None => out.push(num(part)?),
        }
    }
    if out.is_empty() {
        return Err(format!("core list {s:?} is empty"));
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Restricts the calling thread, and every thread it starts afterwards, to `cpus`.
pub fn pin_current_thread(cpus: &[usize]) -> std::io::Result<()> {
    // SAFETY: cpu_set_t is plain data; sched_setaffinity reads it for the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_cores_give_one_each_and_one_core_is_not_split() {
        let p = split(&[0, 1], None).unwrap().unwrap();
        assert_eq!((p.generator, p.server), (vec![0], vec![1]));
        let p = split(&[0, 1, 2, 3, 4], None).unwrap().unwrap();
        assert_eq!((p.generator, p.server), (vec![0, 1], vec![2, 3, 4]));
        assert_eq!(split(&[3], None).unwrap(), None);
        assert!(split(&[3], Some(&[3])).is_err());
    }

    #[test]
    fn a_chosen_server_set_must_leave_load_gen_a_core() {
        let p = split(&[0, 1, 2, 3], Some(&[0])).unwrap().unwrap();
        assert_eq!((p.generator, p.server), (vec![1, 2, 3], vec![0]));
        assert!(split(&[0, 1], Some(&[0, 1])).is_err());
        assert!(split(&[0, 1], Some(&[7])).is_err());
    }

    #[test]
    fn core_lists_parse_like_taskset() {
        assert_eq!(parse_list("1").unwrap(), [1]);
        assert_eq!(parse_list("3,1-2,2").unwrap(), [1, 2, 3]);
        assert!(parse_list("2-1").is_err());
        assert!(parse_list("x").is_err());
        assert!(parse_list("").is_err());
    }

    #[test]
    fn pinning_this_thread_shows_in_its_affinity() {
        let cpus = available();
        assert!(!cpus.is_empty());
        // A fresh thread, so the test harness's own threads keep their cores.
        std::thread::spawn(move || {
            pin_current_thread(&cpus[..1]).unwrap();
            assert_eq!(available(), cpus[..1]);
        })
        .join()
        .unwrap();
    }
}
