//! Gives the allocator's free memory back to the system once the server
//! goes quiet.
//!
//! glibc keeps what a burst of requests freed in its per-thread arenas: a
//! server that answered 1,000 Management API calls held 3 MiB more at rest
//! than before them, none of it in use. `malloc_trim(0)` returns every
//! arena's whole free pages. It walks and locks each arena in turn, so it
//! runs only at a quiet moment: after an interval in which no request was
//! answered, and once per quiet spell.

use std::time::Duration;

/// How long the server must have answered no request before it trims.
pub const QUIET_INTERVAL: Duration = Duration::from_secs(2);

/// Decides when to trim from the count of requests answered, read once per
/// [`QUIET_INTERVAL`]: when the count has not moved since the last read
/// and has moved since the last trim.
#[derive(Debug, Default)]
pub struct QuietSpells {
    last_read: u64,
    at_last_trim: u64,
}

impl QuietSpells {
    /// Whether to trim now, `answered` being the count read now.
    pub fn trim_now(&mut self, answered: u64) -> bool {
        let quiet = answered == self.last_read;
        self.last_read = answered;
        if quiet && answered != self.at_last_trim {
            self.at_last_trim = answered;
            return true;
        }
        false
    }
}

/// Returns the free pages of every arena to the system; whether any were.
/// Elsewhere than glibc it does nothing: musl's and other systems'
/// allocators give memory back themselves or have no such call.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(unsafe_code, reason = "malloc_trim is a C function")]
pub fn release_free_memory() -> bool {
    // SAFETY: malloc_trim takes no pointer and glibc serializes it with
    // every other allocator call (MT-Safe, malloc_trim(3)).
    unsafe { libc::malloc_trim(0) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_once_per_quiet_spell_after_work() {
        let mut spells = QuietSpells::default();
        // At rest from the start: nothing was freed, nothing to trim.
        assert!(!spells.trim_now(0));
        // Busy: the count moves.
        assert!(!spells.trim_now(40));
        assert!(!spells.trim_now(90));
        // The first quiet interval trims, the ones after it do not.
        assert!(spells.trim_now(90));
        assert!(!spells.trim_now(90));
        assert!(!spells.trim_now(90));
        // Work again, then quiet again: one more trim.
        assert!(!spells.trim_now(91));
        assert!(spells.trim_now(91));
        assert!(!spells.trim_now(91));
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn free_pages_between_live_blocks_are_given_back() {
        // 64 KiB blocks come from the thread's arena (under glibc's mmap
        // threshold); keeping every tenth leaves whole free pages between
        // live blocks, which only a trim returns.
        let blocks: Vec<Vec<u8>> = (0..200).map(|_| vec![1; 64 * 1024]).collect();
        let kept: Vec<Vec<u8>> = blocks.into_iter().step_by(10).collect();
        assert!(release_free_memory());
        assert!(kept.iter().all(|block| block.iter().all(|&b| b == 1)));
    }
}
