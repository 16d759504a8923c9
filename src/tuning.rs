//! Process-wide settings the data path depends on, applied first thing in `main` (and in the
//! forward benchmark, whose process runs the sandbox and the client).
//!
//! - **memcpy on AMD CPUs.** glibc copies anything over ~2 KiB with `rep movsb` on CPUs that
//!   advertise fast string moves. On AMD (Zen 3/4) that instruction is an order of magnitude
//!   slower when the destination is not aligned, and a forward's copies rarely are: a TLS
//!   record puts its payload 5 bytes in, a WebSocket frame 4 to 14, a port-forward frame 1.
//!   A profile of one forwarded connection spent a quarter of all CPU in those copies. glibc
//!   takes its copy strategy from `GLIBC_TUNABLES` at process start only, so on an AMD CPU
//!   kubehop runs itself again (`exec`: same process id, arguments and open files) with
//!   `glibc.cpu.x86_rep_movsb_threshold` raised: copies use vector loads and stores, which
//!   do not care about alignment. Nothing happens when the tunable is already set, elsewhere
//!   than glibc on x86-64 Linux, or when the `exec` fails (kubehop then runs as it is).
//! - **Allocator purging.** mimalloc gives memory freed in an arena back to the OS after
//!   `purge_delay` (1 s) × `arena_purge_mult` (1). A forward allocates and frees its frames
//!   (up to 64 KiB, thousands a second per connection) in a steady stream; with the default,
//!   pages went back to the OS between bursts and came back as fresh faults, each clearing a
//!   2 MiB transparent huge page (~6 % of all CPU in the kernel's `clear_page`, ten times the
//!   page faults). Purging after 10 s keeps steady traffic in memory the process already has,
//!   and still returns it once traffic stops.

use std::ffi::OsString;

/// The glibc tunable that decides from which size memcpy uses `rep movsb`.
const REP_MOVSB_THRESHOLD: &str = "glibc.cpu.x86_rep_movsb_threshold";
/// 1 GiB: beyond any copy kubehop makes (glibc switches to non-temporal stores far below).
const NO_REP_MOVSB: &str = "1073741824";
/// Set in the environment of the process that was run again, so it never loops.
const RERUN_MARK: &str = "KUBEHOP_RERUN";

/// `mi_option_arena_purge_mult` in the vendored mimalloc 3 (`include/mimalloc.h`,
/// `mi_option_e`); `libmimalloc-sys` does not name it.
const ARENA_PURGE_MULT: libmimalloc_sys::mi_option_t = 24;
/// Arena purge delay = `purge_delay` (1 s) × this: 10 s.
const ARENA_PURGE_MULT_VALUE: std::ffi::c_long = 10;

/// Applies both settings. Call before anything else in `main`: running again must happen
/// before threads start or the terminal is touched.
pub fn tune_process() {
    rerun_with_vector_memcpy();
    tune_allocator();
}

/// The `GLIBC_TUNABLES` to run again with, given the current ones, or `None` to keep running:
/// only when the threshold is not set already, and only on an AMD CPU (asked last: it reads
/// `/proc/cpuinfo`).
#[cfg_attr(
    not(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu")),
    allow(dead_code)
)]
fn memcpy_tunables(tunables: Option<&str>, amd: impl FnOnce() -> bool) -> Option<String> {
    let setting = format!("{REP_MOVSB_THRESHOLD}={NO_REP_MOVSB}");
    let tunables = match tunables.map(str::trim) {
        None | Some("") => setting,
        Some(current)
            if current
                .split(':')
                .any(|item| item.split('=').next() == Some(REP_MOVSB_THRESHOLD)) =>
        {
            return None;
        }
        Some(current) => format!("{current}:{setting}"),
    };
    amd().then_some(tunables)
}

/// Whether `/proc/cpuinfo` names an AMD CPU (`vendor_id`).
#[cfg_attr(
    not(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu")),
    allow(dead_code)
)]
fn amd_cpu() -> bool {
    let Ok(cpuinfo) = std::fs::read_to_string("/proc/cpuinfo") else {
        return false;
    };
    cpuinfo
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(key, _)| key.trim() == "vendor_id")
        .is_some_and(|(_, vendor)| vendor.trim() == "AuthenticAMD")
}

#[cfg(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu"))]
fn rerun_with_vector_memcpy() {
    use std::os::unix::process::CommandExt;

    if std::env::var_os(RERUN_MARK).is_some() {
        return;
    }
    let current = std::env::var_os("GLIBC_TUNABLES");
    // Tunables that are not UTF-8 are left as they are.
    let current = match current.as_ref().map(|value| value.to_str()) {
        None => None,
        Some(Some(value)) => Some(value),
        Some(None) => return,
    };
    let Some(tunables) = memcpy_tunables(current, amd_cpu) else {
        return;
    };
    // The binary's path (not `/proc/self/exe`, which would name the process `exe`); one
    // that was replaced or deleted since it started fails the exec.
    let Ok(binary) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| OsString::from("kubehop"));
    // Returns only when the exec failed; then this process carries on as it is.
    let _ = std::process::Command::new(binary)
        .arg0(arg0)
        .args(args)
        .env("GLIBC_TUNABLES", tunables)
        .env(RERUN_MARK, "1")
        .exec();
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu")))]
fn rerun_with_vector_memcpy() {}

/// Sets mimalloc's arena purge delay to 10 s.
fn tune_allocator() {
    // SAFETY: `mi_option_set` stores an integer option (an atomic in mimalloc); the index is
    // within `mi_option_e`, whose values mimalloc keeps stable.
    unsafe { libmimalloc_sys::mi_option_set(ARENA_PURGE_MULT, ARENA_PURGE_MULT_VALUE) };
}

/// The current arena purge multiplier.
#[cfg(test)]
fn arena_purge_mult() -> std::ffi::c_long {
    // SAFETY: reads an integer option, see [`tune_allocator`].
    unsafe { libmimalloc_sys::mi_option_get(ARENA_PURGE_MULT) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const SET: &str = "glibc.cpu.x86_rep_movsb_threshold=1073741824";

    #[rstest]
    #[case::amd(None, true, Some(SET.to_owned()))]
    #[case::amd_empty(Some(" "), true, Some(SET.to_owned()))]
    #[case::keeps_other_tunables(
        Some("glibc.malloc.arena_max=2"),
        true,
        Some(format!("glibc.malloc.arena_max=2:{SET}"))
    )]
    #[case::respects_a_threshold_already_set(
        Some("glibc.malloc.arena_max=2:glibc.cpu.x86_rep_movsb_threshold=4096"),
        true,
        None
    )]
    #[case::other_cpus(None, false, None)]
    fn runs_again_only_on_amd_without_the_threshold(
        #[case] tunables: Option<&str>,
        #[case] amd: bool,
        #[case] expected: Option<String>,
    ) {
        assert_eq!(memcpy_tunables(tunables, || amd), expected);
    }

    #[test]
    fn does_not_look_at_the_cpu_when_the_threshold_is_set() {
        let set = Some("glibc.cpu.x86_rep_movsb_threshold=2112");
        assert_eq!(memcpy_tunables(set, || panic!("asked")), None);
    }

    #[test]
    fn reads_the_cpu_vendor() {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        assert_eq!(amd_cpu(), cpuinfo.contains("AuthenticAMD"));
    }

    #[test]
    fn sets_the_arena_purge_delay_to_ten_seconds() {
        // mimalloc's default for the option this index names (`src/options.c`: 1).
        assert_eq!(arena_purge_mult(), 1);
        tune_allocator();
        assert_eq!(arena_purge_mult(), ARENA_PURGE_MULT_VALUE);
    }
}
