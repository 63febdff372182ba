//! Network namespaces for tests that need a real link between hosts (multicast does not
//! leave a fresh namespace's `lo`): [`Link`] makes two namespaces joined by a veth pair and
//! deletes them when dropped. Names carry the test's tag and our pid, so parallel tests and
//! other people's runs never meet. Making namespaces needs root and `ip netns`; a test checks
//! [`can_make_namespaces`] first.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{missing, run_bounded};

/// Whether this machine lets us make a network namespace (root and iproute2); skips loudly
/// (fails under `CI=true`) when it does not.
pub fn can_make_namespaces() -> bool {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let probe = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = format!("mt-probe-{}-{probe}", std::process::id());
    let made = ip(&["netns", "add", &name]);
    if made {
        ip(&["netns", "del", &name]);
    }
    made || missing("root and `ip netns` (network namespaces)")
}

/// Runs `ip ARGS`, bounded; true when it succeeded.
fn ip(args: &[&str]) -> bool {
    let mut command = Command::new("ip");
    command.args(args);
    run_bounded(command).code == 0
}

/// Two namespaces, `a` and `b`, joined by a veth pair: each end has an address in one /24
/// (or, made by [`Link::new_v6`], in one IPv6 /64 and no IPv4 address at all), is up, and
/// carries the multicast routes; each namespace's `lo` is up.
pub struct Link {
    names: [String; 2],
    /// The address of each end.
    pub addrs: [String; 2],
}

impl Link {
    /// Makes the pair; `tag` (a few letters) and `subnet` (the third octet of 10.201.x.0/24)
    /// tell apart the links of tests that run at once.
    pub fn new(tag: &str, subnet: u8) -> Link {
        let addrs = [format!("10.201.{subnet}.1"), format!("10.201.{subnet}.2")];
        Link::make(tag, addrs, |end, addr| {
            vec![
                vec!["addr".into(), "add".into(), format!("{addr}/24"), "dev".into(), end.into()],
                vec!["route".into(), "add".into(), "224.0.0.0/4".into(), "dev".into(), end.into()],
            ]
        })
    }

    /// A pair like [`Link::new`] that carries IPv6 only: unique local addresses in
    /// fd00:201:`subnet`::/64, usable at once (`nodad`: no wait for duplicate address
    /// detection); the kernel routes multicast (ff00::/8) on each end by itself.
    pub fn new_v6(tag: &str, subnet: u8) -> Link {
        let addrs = [format!("fd00:201:{subnet}::1"), format!("fd00:201:{subnet}::2")];
        Link::make(tag, addrs, |end, addr| {
            let cidr = format!("{addr}/64");
            vec![vec!["addr".into(), "add".into(), cidr, "dev".into(), end.into(), "nodad".into()]]
        })
    }

    /// Makes the namespaces and the pair, and runs `ip -n NS` with each of `setup(end, addr)`
    /// on each side before bringing the links up.
    fn make(tag: &str, addrs: [String; 2], setup: impl Fn(&str, &str) -> Vec<Vec<String>>) -> Link {
        let pid = std::process::id() % 100_000;
        let names = [format!("mt-{tag}-{pid}-a"), format!("mt-{tag}-{pid}-b")];
        let link = Link { names, addrs };
        let ends = [format!("{tag}{pid}a"), format!("{tag}{pid}b")];
        for name in &link.names {
            assert!(ip(&["netns", "add", name]), "cannot make namespace {name}");
        }
        let made = ip(&[
            "link",
            "add",
            &ends[0],
            "netns",
            &link.names[0],
            "type",
            "veth",
            "peer",
            "name",
            &ends[1],
            "netns",
            &link.names[1],
        ]);
        assert!(made, "cannot make the veth pair {} / {}", ends[0], ends[1]);
        for ((ns, addr), end) in link.names.iter().zip(&link.addrs).zip(&ends) {
            let mut steps = vec![
                vec!["link".to_string(), "set".into(), end.clone(), "up".into()],
                vec!["link".into(), "set".into(), "lo".into(), "up".into()],
            ];
            // Addresses first, then the links up, then routes that need a link up.
            let setup = setup(end, addr);
            let (addresses, routes): (Vec<_>, Vec<_>) =
                setup.into_iter().partition(|step| step.first().is_some_and(|s| s == "addr"));
            steps.splice(0..0, addresses);
            steps.extend(routes);
            for step in steps {
                let mut args = vec!["-n", ns.as_str()];
                args.extend(step.iter().map(String::as_str));
                assert!(ip(&args), "ip {} failed", args.join(" "));
            }
        }
        link
    }

    /// `program ARGS` to run inside namespace `side` (0 or 1); `ip netns exec` replaces
    /// itself with the program, so the child's pid is the program's.
    pub fn command(&self, side: usize, program: &str, args: &[&str]) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.names[side], program]).args(args);
        command
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the pair, and so the pair.
        for name in &self.names {
            ip(&["netns", "del", name]);
        }
    }
}
