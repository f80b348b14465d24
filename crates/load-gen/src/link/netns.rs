//! Network namespaces without names: made by a short-lived thread with `unshare`, held by a file
//! descriptor. The kernel removes a namespace, with its devices, once nothing holds it: when
//! load-gen drops the descriptor and the processes started in it have exited, or when load-gen
//! itself exits, however it exits. Nothing is left in `ip netns list` to clean up.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// One network namespace.
#[derive(Debug)]
pub struct Netns {
    fd: OwnedFd,
}

/// The calling thread's network namespace.
fn current() -> io::Result<File> {
    File::open("/proc/thread-self/ns/net")
}

/// `setns(fd, CLONE_NEWNET)` for the calling thread.
fn enter_raw(fd: RawFd) -> io::Result<()> {
    // SAFETY: setns takes a namespace descriptor we hold open; it changes only this thread.
    if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Netns {
    /// A new network namespace with its loopback device up (it starts down, and a process
    /// in it talking to one of its own addresses needs it).
    pub fn new() -> io::Result<Netns> {
        std::thread::scope(|s| {
            s.spawn(|| -> io::Result<Netns> {
                // SAFETY: unshare changes only this (new, short-lived) thread's namespace.
                if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                    return Err(io::Error::last_os_error());
                }
                set_up("lo")?;
                Ok(Netns {
                    fd: current()?.into(),
                })
            })
            .join()
            .map_err(|_| io::Error::other("the namespace thread panicked"))?
        })
    }

    /// Runs `f` with the calling thread in this namespace: sockets and devices it creates
    /// belong here. The thread returns to its own namespace before this returns.
    pub fn enter<T>(&self, f: impl FnOnce() -> T) -> io::Result<T> {
        let home = current()?;
        enter_raw(self.fd.as_raw_fd())?;
        let out = f();
        // A thread left in the wrong namespace would put every later socket of its runtime
        // there: nothing sensible can follow a failure to return.
        enter_raw(home.as_raw_fd()).expect("returning to load-gen's own network namespace");
        Ok(out)
    }

    /// The descriptor, for a child process to enter before it starts (see
    /// [`Netns::enter_in_child`]).
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Enters the namespace `fd` from a forked child, before `exec`: one async-signal-safe
    /// system call.
    pub fn enter_in_child(fd: RawFd) -> io::Result<()> {
        enter_raw(fd)
    }
}

/// Sets the interface `name` of the calling thread's namespace up.
fn set_up(name: &str) -> io::Result<()> {
    // SAFETY: a datagram socket only used for the two ioctls below, closed by OwnedFd.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `sock` is a descriptor we just opened and own.
    let sock = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(sock) };
    // SAFETY: ifreq is plain data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS and SIOCSIFFLAGS read and write the flags of the ifreq we pass.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs CAP_SYS_ADMIN (root), as every network scenario does.
    #[test]
    fn a_namespace_is_apart_and_the_thread_comes_home() {
        let before = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
        let ns = match Netns::new() {
            Ok(ns) => ns,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                panic!("network namespaces need root: {e}")
            }
            Err(e) => panic!("{e}"),
        };
        let inside = ns
            .enter(|| std::fs::read_link("/proc/thread-self/ns/net").unwrap())
            .unwrap();
        assert_ne!(inside, before);
        assert_eq!(
            std::fs::read_link("/proc/thread-self/ns/net").unwrap(),
            before
        );
        // Its loopback is up: a listener there answers, and is not reachable from here.
        let (_listener, addr) = ns
            .enter(|| {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = l.local_addr().unwrap();
                let c = std::net::TcpStream::connect(addr);
                assert!(c.is_ok(), "{c:?}");
                (l, addr)
            })
            .unwrap();
        assert!(std::net::TcpStream::connect(addr).is_err());
    }
}
