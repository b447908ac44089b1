//! Gives back, once the server is up, the memory only start-up used.
//!
//! Start-up runs code from all over the binary (migrations, theme compilation, the sandbox's
//! PKI, WebAuthn, configuration), and the kernel maps our executable's pages in windows
//! around each page touched (fault-around): measured, 22 of the 24 MB of `.text` ended up
//! resident although serving a request uses a fraction of them. Unmapping them
//! (`MADV_DONTNEED`) costs nothing lasting: the pages stay in the page cache, and what
//! serving needs is mapped again on first use by a minor fault.
//!
//! Only the executable's code (`r-xp`) and the read-only data the linker puts before it
//! (`r--p` below the code: headers, `.rodata`, unwind tables) are unmapped. Neither is ever
//! written, so it can always be mapped again from the file. The read-only data *after* the
//! code (RELRO: `.data.rel.ro`, the GOT) holds pointers the loader wrote at start, which the
//! file does not have: it is left alone. Then glibc hands free heap pages back
//! (`malloc_trim`).

/// Unmaps our executable's code and trims the heap; logs what it freed. Does nothing on
/// systems other than Linux with glibc.
pub fn release_startup_pages() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    linux::release();
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod linux {
    pub fn release() {
        let before = resident_kb();
        let unmapped = file_mappings().into_iter().all(|(start, end)| {
            // SAFETY: `start..end` is a whole mapping of our own executable's code or of the
            // read-only data before it, read from /proc/self/maps: page-aligned, file-backed,
            // private and never written, so MADV_DONTNEED only drops page-table entries; the
            // next access maps the same bytes from the file again. No Rust value lives there.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) == 0
            }
        });
        // SAFETY: glibc's malloc_trim takes no pointers and may be called at any time.
        unsafe { libc::malloc_trim(0) };
        tracing::debug!(
            code_unmapped = unmapped,
            resident_kb_before = before,
            resident_kb_after = resident_kb(),
            "start-up memory released"
        );
    }

    /// The running executable's code mappings (`r-xp`) and the read-only mappings (`r--p`)
    /// below the first of them, as address ranges.
    fn file_mappings() -> Vec<(usize, usize)> {
        let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
            return Vec::new();
        };
        let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
            return Vec::new();
        };
        let ours: Vec<(usize, usize, &str)> = maps
            .lines()
            .filter_map(|line| {
                // "start-end perms offset dev inode path": only the path has a '/', and it
                // may hold spaces.
                let mut fields = line.split_whitespace();
                let (start, end) = fields.next()?.split_once('-')?;
                let perms = fields.next()?;
                let path = &line[line.find('/')?..];
                (std::path::Path::new(path) == exe).then_some((
                    usize::from_str_radix(start, 16).ok()?,
                    usize::from_str_radix(end, 16).ok()?,
                    perms,
                ))
            })
            .collect();
        let Some(code_starts) = ours
            .iter()
            .filter(|(_, _, perms)| *perms == "r-xp")
            .map(|(start, _, _)| *start)
            .min()
        else {
            return Vec::new();
        };
        ours.into_iter()
            .filter(|(start, _, perms)| {
                *perms == "r-xp" || (*perms == "r--p" && *start < code_starts)
            })
            .map(|(start, end, _)| (start, end))
            .collect()
    }

    fn resident_kb() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches(" kB")
            .parse()
            .ok()
    }

    #[cfg(test)]
    mod tests {
        /// The test binary's own code is found, and code, read-only data and relocated
        /// pointers (trait objects) still work after the release.
        #[test]
        fn the_code_mapping_is_found_and_code_runs_after_it_is_unmapped() {
            let mappings = super::file_mappings();
            assert!(!mappings.is_empty(), "no r-xp mapping of /proc/self/exe");
            let here =
                the_code_mapping_is_found_and_code_runs_after_it_is_unmapped as *const () as usize;
            assert!(mappings.iter().any(|(s, e)| (*s..*e).contains(&here)));
            super::release();
            assert_eq!(format!("{:?}", vec![1, 2, 3]), "[1, 2, 3]");
            let shown: Box<dyn std::fmt::Display> = Box::new("read-only data");
            assert_eq!(shown.to_string(), "read-only data");
        }
    }
}
