//! Loopback ports for processes started by someone else a moment later (a worker, a
//! throwaway Postgres, a container's published port).
//!
//! Why not `bind(0)` and hand the port on: the kernel gives `bind(0)` a port from its
//! ephemeral range, the same range every outgoing connection's local port comes from.
//! Between the pick and the child's own bind, any connection on the machine (a scrape,
//! a Postgres pool) may take that port, and the child exits "Address already in use".
//! Ports just below the ephemeral range are never given to outgoing connections; a
//! random one of them that binds now is only lost to another explicit pick, which is
//! rare, and which the caller can still recover from.

use std::hash::{BuildHasher, Hasher};
use std::net::{Ipv4Addr, TcpListener};

/// Ports of the stack the drills run against: never handed out, even when free now.
const STACK_PORTS: [u16; 12] = [
    5432, 9090, 9100, 9109, 9111, 9200, 9300, 4317, 4318, 14250, 14268, 16686,
];

/// How far below the ephemeral range picks are made.
const SPAN: u16 = 12_768;

/// A loopback TCP port that is free now, outside the kernel's ephemeral range, and not
/// in `avoid`. Falls back to `bind(0)` when no such range exists.
pub fn spare_port(avoid: &[u16]) -> std::io::Result<u16> {
    let (ephemeral_low, _) = ephemeral_range();
    let low = ephemeral_low.saturating_sub(SPAN).max(1024);
    if low < ephemeral_low {
        for _ in 0..256 {
            let port = low + (random() % u64::from(ephemeral_low - low)) as u16;
            if avoid.contains(&port) || STACK_PORTS.contains(&port) {
                continue;
            }
            if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
                return Ok(port);
            }
        }
    }
    loop {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        if !avoid.contains(&port) {
            return Ok(port);
        }
    }
}

/// `net.ipv4.ip_local_port_range` (Linux's default when it cannot be read).
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut parts = text.split_whitespace().map(str::parse::<u16>);
            Some((parts.next()?.ok()?, parts.next()?.ok()?))
        })
        .unwrap_or((32_768, 60_999))
}

/// A random number from the standard library's per-process random hash keys.
fn random() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spare_port_is_below_the_ephemeral_range_free_and_not_avoided() {
        let (ephemeral_low, _) = ephemeral_range();
        let first = spare_port(&[]).unwrap();
        let second = spare_port(&[first]).unwrap();
        assert_ne!(first, second);
        for port in [first, second] {
            assert!(port < ephemeral_low, "{port} is outside {ephemeral_low}..");
            assert!(!STACK_PORTS.contains(&port));
            TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("free");
        }
    }

    #[test]
    fn a_port_in_use_is_never_handed_out() {
        let held: Vec<TcpListener> = (0..50)
            .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, spare_port(&[]).unwrap())).unwrap())
            .collect();
        let ports: Vec<u16> = held
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        for _ in 0..200 {
            assert!(!ports.contains(&spare_port(&[]).unwrap()));
        }
    }
}
