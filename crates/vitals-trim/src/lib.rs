//! # vitals-trim: give back the code pages only start-up ran
//!
//! The agent's start-up (the CLI parser building every subcommand, the HTTP router,
//! tracing's filter, tokio) runs code spread over the whole binary, and the kernel maps
//! the page cache 64 KiB around every page fault, so after start-up nearly all of the
//! binary's code is mapped into the process and counted in its resident set (VmRSS),
//! although the agent at rest runs a fraction of it. [`startup_pages`], called once
//! start-up is over, unmaps the binary's read-only pages (`madvise(MADV_DONTNEED)`); the
//! code the agent runs afterwards faults back in from the page cache (a minor fault, no
//! disk read while the page is cached), so only that code stays resident.
//!
//! ## Why it cannot lose data
//!
//! It touches only mappings of the executable's own file (`/proc/self/exe`) that are
//! private, not writable, and hold no anonymous page (`/proc/self/smaps`: `Anonymous:
//! 0 kB`). Such a mapping's resident pages are all the file's clean page-cache pages, so
//! `MADV_DONTNEED` only drops the process's page-table entries and the next access reads
//! the same bytes back. A page that was ever written (relocated data, RELRO after the
//! loader's `mprotect`, a debugger's breakpoint, a uprobe) is anonymous, and its whole
//! mapping is skipped; writable mappings (`.data`, `.bss`, the heap, stacks) are never
//! touched. The page cache keeps the pages (shared with every other process running the
//! binary); the kernel reclaims them only as it would any unmapped file page.
//!
//! Linux only: elsewhere [`startup_pages`] does nothing and returns zero.

/// Unmaps the executable's clean, read-only pages (its code and read-only data); returns
/// how many bytes of mappings it advised (resident or not).
pub fn startup_pages() -> std::io::Result<usize> {
    #[cfg(target_os = "linux")]
    {
        let exe = std::env::current_exe()?;
        let smaps = std::io::BufReader::new(std::fs::File::open("/proc/self/smaps")?);
        let mut advised = 0;
        for range in clean_read_only(smaps, &exe.to_string_lossy())? {
            dont_need(range.clone())?;
            advised += range.len();
        }
        Ok(advised)
    }
    #[cfg(not(target_os = "linux"))]
    Ok(0)
}

/// The address ranges of `path`'s mappings in `smaps` (the text of `/proc/PID/smaps`)
/// that are private, not writable and hold no anonymous page. Read line by line: the
/// file is tens of KiB, which would stay in the heap once read whole.
pub fn clean_read_only(smaps: impl std::io::BufRead, path: &str) -> std::io::Result<Vec<std::ops::Range<usize>>> {
    let mut found = Vec::new();
    let mut current: Option<std::ops::Range<usize>> = None;
    for line in smaps.lines() {
        let line = line?;
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else { continue };
        if first == "Anonymous:" {
            if let Some(range) = current.take().filter(|_| fields.next() == Some("0")) {
                found.push(range);
            }
        } else if let Some((start, end)) = first.split_once('-').filter(|_| !first.ends_with(':')) {
            let perms = fields.next().unwrap_or("").as_bytes();
            let wanted = fields.nth(3) == Some(path) && matches!(perms, [b'r', b'-', _, b'p']);
            current = match (usize::from_str_radix(start, 16), usize::from_str_radix(end, 16)) {
                (Ok(start), Ok(end)) if wanted && start < end => Some(start..end),
                _ => None,
            };
        }
    }
    Ok(found)
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn dont_need(range: std::ops::Range<usize>) -> std::io::Result<()> {
    // SAFETY: `range` is a whole mapping of the executable's file, private, not writable
    // and without anonymous pages (`clean_read_only`): every resident page is a clean
    // page-cache page, which the next access faults back in unchanged. No Rust reference
    // is invalidated, since the bytes read afterwards are the same.
    let failed = unsafe { libc::madvise(range.start as *mut libc::c_void, range.len(), libc::MADV_DONTNEED) } != 0;
    if failed {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
5600-5700 r--p 00000000 fe:00 12 /usr/bin/vitals
Rss:                 100 kB
Anonymous:             0 kB
5700-5a00 r-xp 00100000 fe:00 12 /usr/bin/vitals
Rss:                 700 kB
Anonymous:             0 kB
5a00-5b00 r--p 00400000 fe:00 12 /usr/bin/vitals
Rss:                  16 kB
Anonymous:            12 kB
5b00-5c00 rw-p 00500000 fe:00 12 /usr/bin/vitals
Rss:                   8 kB
Anonymous:             0 kB
7f00-7f80 r-xp 00000000 fe:00 13 /usr/lib/libc.so.6
Rss:                 900 kB
Anonymous:             0 kB
7f80-7f90 r-xs 00000000 fe:00 12 /usr/bin/vitals
Anonymous:             0 kB
";

    #[test]
    fn only_the_clean_read_only_private_mappings_of_the_binary() {
        let found = clean_read_only(SMAPS.as_bytes(), "/usr/bin/vitals").unwrap();
        assert_eq!(found, vec![0x5600..0x5700, 0x5700..0x5a00]);
    }

    #[test]
    fn nothing_for_another_path() {
        assert!(clean_read_only(SMAPS.as_bytes(), "/usr/bin/other").unwrap().is_empty());
    }

    #[test]
    fn trims_this_test_binary_and_it_still_runs() {
        let advised = startup_pages().expect("madvise");
        if cfg!(target_os = "linux") {
            assert!(advised > 0);
        }
        // The code runs after its pages were dropped: it faults back in.
        assert_eq!(clean_read_only(SMAPS.as_bytes(), "/usr/bin/vitals").unwrap().len(), 2);
    }
}
