//! # vitals-trim: give back the pages only start-up used
//!
//! The agent's start-up (the CLI parser building every subcommand, the HTTP router,
//! tracing's filter, tokio) runs code spread over the whole binary, and the kernel maps
//! the page cache 64 KiB around every page fault, so after start-up nearly all of the
//! binary's code is mapped into the process and counted in its resident set (VmRSS),
//! although the agent at rest runs a fraction of it; the same holds, on a smaller scale,
//! for the shared libraries (libc, libm, the loader). [`startup_pages`], called once
//! start-up is over, unmaps the read-only pages of the executable and of those libraries
//! (`madvise(MADV_DONTNEED)`); the code the agent runs afterwards faults back in from the
//! page cache (a minor fault, no disk read while the page is cached), so only that code
//! stays resident.
//!
//! ## Why it cannot lose data
//!
//! It touches only mappings of the code objects' files (the files with an executable
//! mapping in `/proc/self/maps`: the executable and its shared libraries) that are
//! private, not writable, and hold no anonymous page (`/proc/self/smaps`: `Anonymous:
//! 0 kB`). Such a mapping's resident pages are all the file's clean page-cache pages, so
//! `MADV_DONTNEED` only drops the process's page-table entries and the next access reads
//! the same bytes back. A page that was ever written (relocated data, RELRO after the
//! loader's `mprotect`, a debugger's breakpoint, a uprobe) is anonymous, and its whole
//! mapping is skipped; writable mappings (`.data`, `.bss`, the heap, stacks) are never
//! touched. The page cache keeps the pages (shared with every other process running the
//! binary or the library); the kernel reclaims them only as it would any unmapped file
//! page.
//!
//! ## The main thread's stack
//!
//! Start-up also runs deep on the main thread's stack (about 120 KiB: the CLI parser, the
//! runtime and router builders), which the agent at rest, polling its tasks from the
//! same thread, never reaches again; those pages stay resident, as anonymous memory, for
//! the life of the process. [`stack_below`], called on the main thread once start-up is
//! over, gives back the part of the stack more than `margin` bytes below the current
//! stack pointer (`madvise(MADV_DONTNEED)`: the pages are freed, and a later call that
//! reaches that deep again gets fresh zeroed pages, as a stack that grows does).
//!
//! ## Why that cannot lose data either
//!
//! A thread's stack below its stack pointer holds nothing live: frames are pushed below
//! it and popped above it, so whatever is there belongs to calls that have returned. The
//! x86-64 ABI's red zone (128 bytes below the pointer, usable by a leaf function without
//! moving it) and the frame of the call doing the advice lie inside `margin` (at least
//! [`MIN_STACK_MARGIN`]), and no other code runs on this thread during the `madvise`
//! system call (a signal handler's frame, pushed below the pointer, is dead once it
//! returns). No other thread uses this stack: a reference into it can only point into a
//! live frame, above the pointer. It acts only on the main thread (thread id = process
//! id), whose stack is the `[stack]` mapping of `/proc/self/maps`; on any other thread
//! it does nothing.
//!
//! Linux only: elsewhere [`startup_pages`] and [`stack_below`] do nothing.

/// Unmaps the clean, read-only pages (code and read-only data) of the executable and of
/// the shared libraries it runs (every file with an executable mapping: libc, libm, the
/// loader); returns how many bytes of mappings it advised (resident or not).
pub fn startup_pages() -> std::io::Result<usize> {
    #[cfg(target_os = "linux")]
    {
        let maps = std::io::BufReader::new(std::fs::File::open("/proc/self/maps")?);
        let objects = code_objects(maps)?;
        let paths: Vec<&str> = objects.iter().map(String::as_str).collect();
        let smaps = std::io::BufReader::new(std::fs::File::open("/proc/self/smaps")?);
        let mut advised = 0;
        for range in clean_read_only(smaps, &paths)? {
            // SAFETY: `range` is a whole mapping of a code object's file (the executable or
            // a shared library), private, not writable and without anonymous pages
            // (`clean_read_only`): every resident page is a clean page-cache page, which the
            // next access faults back in unchanged. No Rust reference is invalidated, since
            // the bytes read afterwards are the same.
            #[allow(unsafe_code)]
            unsafe {
                dont_need(range.clone())?
            };
            advised += range.len();
        }
        Ok(advised)
    }
    #[cfg(not(target_os = "linux"))]
    Ok(0)
}

/// The files with an executable mapping in `maps` (the text of `/proc/PID/maps`): the
/// executable and its shared libraries.
pub fn code_objects(maps: impl std::io::BufRead) -> std::io::Result<Vec<String>> {
    let mut found: Vec<String> = Vec::new();
    for line in maps.lines() {
        let line = line?;
        let mut fields = line.split_whitespace();
        let executable = fields
            .nth(1)
            .is_some_and(|perms| perms.as_bytes().get(2) == Some(&b'x'));
        let new = |path: &&str| executable && path.starts_with('/') && !found.iter().any(|known| known == path);
        if let Some(path) = fields.nth(3).filter(new) {
            found.push(path.to_owned());
        }
    }
    Ok(found)
}

/// The address ranges of the mappings in `smaps` (the text of `/proc/PID/smaps`) of one of
/// `paths` that are private, not writable and hold no anonymous page. Read line by line:
/// the file is tens of KiB, which would stay in the heap once read whole.
pub fn clean_read_only(smaps: impl std::io::BufRead, paths: &[&str]) -> std::io::Result<Vec<std::ops::Range<usize>>> {
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
            let wanted =
                fields.nth(3).is_some_and(|path| paths.contains(&path)) && matches!(perms, [b'r', b'-', _, b'p']);
            current = match (usize::from_str_radix(start, 16), usize::from_str_radix(end, 16)) {
                (Ok(start), Ok(end)) if wanted && start < end => Some(start..end),
                _ => None,
            };
        }
    }
    Ok(found)
}

/// The least `margin` [`stack_below`] keeps below the stack pointer: its own frames, the
/// system call's and the red zone (128 bytes) fit many times over.
pub const MIN_STACK_MARGIN: usize = 16 * 1024;

/// On the main thread, gives back its stack's pages more than `margin` bytes (at least
/// [`MIN_STACK_MARGIN`]) below the stack pointer; returns the range it advised, or `None`
/// on any other thread, when nothing lies that deep, or off Linux.
pub fn stack_below(margin: usize) -> std::io::Result<Option<std::ops::Range<usize>>> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: neither call has preconditions; both only read the caller's ids.
        #[allow(unsafe_code)]
        let main_thread = unsafe { libc::gettid() == libc::getpid() };
        if !main_thread {
            return Ok(None);
        }
        let maps = std::io::BufReader::new(std::fs::File::open("/proc/self/maps")?);
        let Some(stack) = main_stack(maps)? else {
            return Ok(None);
        };
        let here = 0u8;
        let sp = std::hint::black_box(&raw const here) as usize;
        let Some(range) = unused_below(stack, sp, margin.max(MIN_STACK_MARGIN), page_size()) else {
            return Ok(None);
        };
        // SAFETY: `range` is whole pages of the calling (main) thread's own stack mapping
        // lying at least `MIN_STACK_MARGIN` below its stack pointer (`unused_below`):
        // memory of frames that have returned, which nothing references (see the module
        // doc). The kernel frees the pages; a later push that reaches them gets zeroed pages.
        #[allow(unsafe_code)]
        unsafe {
            dont_need(range.clone())?
        };
        Ok(Some(range))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = margin;
        Ok(None)
    }
}

/// The address range of the `[stack]` mapping in `maps` (the text of `/proc/PID/maps`).
pub fn main_stack(maps: impl std::io::BufRead) -> std::io::Result<Option<std::ops::Range<usize>>> {
    for line in maps.lines() {
        let line = line?;
        if line.split_whitespace().nth(5) != Some("[stack]") {
            continue;
        }
        let Some((start, end)) = line.split_whitespace().next().and_then(|r| r.split_once('-')) else {
            continue;
        };
        if let (Ok(start), Ok(end)) = (usize::from_str_radix(start, 16), usize::from_str_radix(end, 16)) {
            return Ok(Some(start..end));
        }
    }
    Ok(None)
}

/// The whole pages of `stack` lying more than `margin` bytes below `sp` (a stack grows
/// down), or `None` if there are none or `sp` is not in `stack`.
pub fn unused_below(
    stack: std::ops::Range<usize>,
    sp: usize,
    margin: usize,
    page: usize,
) -> Option<std::ops::Range<usize>> {
    if !stack.contains(&sp) {
        return None;
    }
    let end = sp.checked_sub(margin)? & !(page - 1);
    (end > stack.start).then_some(stack.start..end)
}

#[cfg(target_os = "linux")]
fn page_size() -> usize {
    // SAFETY: `sysconf` has no preconditions.
    #[allow(unsafe_code)]
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

/// `madvise(MADV_DONTNEED)` over `range`: the process's pages there are dropped, and the
/// next access finds the file's page (a file mapping) or a zeroed one (anonymous memory).
///
/// # Safety
///
/// Nothing in `range` may be read later for what it holds now, unless it comes back
/// unchanged: clean pages of a private file mapping (read again from the file) or memory
/// nothing references any more (anonymous pages come back zeroed). Each caller says why
/// its range is one of these.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
unsafe fn dont_need(range: std::ops::Range<usize>) -> std::io::Result<()> {
    // SAFETY: the caller's (above); `madvise` itself touches no Rust-visible memory.
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
        let found = clean_read_only(SMAPS.as_bytes(), &["/usr/bin/vitals"]).unwrap();
        assert_eq!(found, vec![0x5600..0x5700, 0x5700..0x5a00]);
        let found = clean_read_only(SMAPS.as_bytes(), &["/usr/bin/vitals", "/usr/lib/libc.so.6"]).unwrap();
        assert_eq!(found, vec![0x5600..0x5700, 0x5700..0x5a00, 0x7f00..0x7f80]);
    }

    #[test]
    fn nothing_for_another_path() {
        assert!(
            clean_read_only(SMAPS.as_bytes(), &["/usr/bin/other"])
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn the_code_objects_are_the_files_with_an_executable_mapping() {
        let maps = "5600-5700 r--p 00000000 fe:00 12 /usr/bin/vitals\n\
                    5700-5a00 r-xp 00100000 fe:00 12 /usr/bin/vitals\n\
                    6000-6100 rw-p 00000000 00:00 0                          [heap]\n\
                    7e00-7e10 r--p 00000000 fe:00 14 /etc/some.data\n\
                    7f00-7f80 r-xp 00000000 fe:00 13 /usr/lib/libc.so.6\n\
                    7f80-7f90 r--p 00080000 fe:00 13 /usr/lib/libc.so.6\n\
                    7fff100-7fff200 r-xp 00000000 00:00 0                          [vdso]\n";
        assert_eq!(
            code_objects(maps.as_bytes()).unwrap(),
            vec!["/usr/bin/vitals", "/usr/lib/libc.so.6"]
        );
    }

    #[test]
    fn the_stack_mapping() {
        let maps = "5600-5700 r--p 00000000 fe:00 12 /usr/bin/vitals\n\
                    7ffd000-7fff000 rw-p 00000000 00:00 0                          [stack]\n\
                    7fff100-7fff200 r-xp 00000000 00:00 0                          [vdso]\n";
        assert_eq!(main_stack(maps.as_bytes()).unwrap(), Some(0x7ffd000..0x7fff000));
        assert_eq!(main_stack("5600-5700 r--p 0 fe:00 12 /x\n".as_bytes()).unwrap(), None);
    }

    #[test]
    fn only_whole_pages_a_margin_below_the_stack_pointer() {
        let stack = 0x10_0000..0x20_0000;
        // 0x1f_8123 - 0x4000 = 0x1f_4123, rounded down to a page.
        assert_eq!(
            unused_below(stack.clone(), 0x1f_8123, 0x4000, 0x1000),
            Some(0x10_0000..0x1f_4000)
        );
        // Less than a page below the margin: nothing.
        assert_eq!(unused_below(stack.clone(), 0x10_4800, 0x4000, 0x1000), None);
        // A pointer outside the stack (another thread's): nothing.
        assert_eq!(unused_below(stack, 0x30_0000, 0x4000, 0x1000), None);
    }

    #[test]
    fn not_on_another_thread() {
        // Tests run on threads other than the main one (tests/stack.rs covers it).
        let on_main = std::thread::current().name() == Some("main");
        if !on_main {
            assert_eq!(stack_below(MIN_STACK_MARGIN).unwrap(), None);
        }
    }

    #[test]
    fn trims_this_test_binary_and_it_still_runs() {
        let advised = startup_pages().expect("madvise");
        if cfg!(target_os = "linux") {
            assert!(advised > 0);
        }
        // The code runs after its pages were dropped: it faults back in.
        assert_eq!(
            clean_read_only(SMAPS.as_bytes(), &["/usr/bin/vitals"]).unwrap().len(),
            2
        );
    }
}
