//! Gives the allocator's free memory back to the system once the server
//! goes quiet.
//!
//! glibc keeps what a burst of requests freed in its per-thread arenas: a
//! server that answered 1,000 Management API calls held 3 MiB more at rest
//! than before them, none of it in use. `malloc_trim(0)` returns every
//! arena's whole free pages. It walks and locks each arena in turn, so it
//! runs only at a quiet moment: after an interval in which no request was
//! answered, once per quiet spell, and only when something may have been
//! freed since the last trim: start-up, requests, or database connections
//! closed (an idle SQLite reader's schema copy and page cache).

use std::time::Duration;

/// How long the server must have answered no request before it trims.
pub const QUIET_INTERVAL: Duration = Duration::from_secs(2);

/// What the server has done, read once per [`QUIET_INTERVAL`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Activity {
    /// Requests answered since the server started.
    pub answered: u64,
    /// Database connections open now.
    pub connections: u32,
}

/// Decides when to trim from the server's [`Activity`], read once per
/// [`QUIET_INTERVAL`].
#[derive(Debug, Default)]
pub struct QuietSpells {
    last_read: Option<Activity>,
    /// The requests answered at the last trim; `None` before the first.
    answered_at_last_trim: Option<u64>,
    /// Whether fewer connections were open at some read than at the one
    /// before it, since the last trim.
    closed_since_trim: bool,
}

impl QuietSpells {
    /// Whether to trim now, `now` being the activity read now: when no
    /// request was answered since the last read, and memory may have been
    /// freed since the last trim (none yet: start-up generated keys and
    /// seeded; requests answered; connections closed).
    pub fn trim_now(&mut self, now: Activity) -> bool {
        let quiet = self
            .last_read
            .is_some_and(|last| last.answered == now.answered);
        if self
            .last_read
            .is_some_and(|last| now.connections < last.connections)
        {
            self.closed_since_trim = true;
        }
        self.last_read = Some(now);
        let freed_since_trim = self
            .answered_at_last_trim
            .is_none_or(|answered| now.answered != answered || self.closed_since_trim);
        if quiet && freed_since_trim {
            self.answered_at_last_trim = Some(now.answered);
            self.closed_since_trim = false;
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

    fn at(answered: u64, connections: u32) -> Activity {
        Activity {
            answered,
            connections,
        }
    }

    #[test]
    fn trims_once_after_start_up_and_once_per_quiet_spell_after_work() {
        let mut spells = QuietSpells::default();
        // The first read has nothing to compare with; the next one, quiet,
        // trims what start-up freed, once.
        assert!(!spells.trim_now(at(0, 1)));
        assert!(spells.trim_now(at(0, 1)));
        assert!(!spells.trim_now(at(0, 1)));
        // Busy: the count moves.
        assert!(!spells.trim_now(at(40, 4)));
        assert!(!spells.trim_now(at(90, 8)));
        // The first quiet interval trims, the ones after it do not.
        assert!(spells.trim_now(at(90, 8)));
        assert!(!spells.trim_now(at(90, 8)));
        // Work again, then quiet again: one more trim.
        assert!(!spells.trim_now(at(91, 8)));
        assert!(spells.trim_now(at(91, 8)));
        assert!(!spells.trim_now(at(91, 8)));
    }

    #[test]
    fn trims_again_when_connections_close_at_rest() {
        let mut spells = QuietSpells::default();
        spells.trim_now(at(90, 8));
        assert!(spells.trim_now(at(90, 8)));
        // Idle connections closed with no request answered: trim once more.
        assert!(spells.trim_now(at(90, 0)));
        assert!(!spells.trim_now(at(90, 0)));
        // The upkeep opens one (no request answered), which idles out:
        // trim what it freed, once.
        assert!(!spells.trim_now(at(90, 1)));
        assert!(spells.trim_now(at(90, 0)));
        assert!(!spells.trim_now(at(90, 0)));
        // A request answered (not quiet yet), then quiet: one trim.
        assert!(!spells.trim_now(at(91, 1)));
        assert!(spells.trim_now(at(91, 1)));
        assert!(!spells.trim_now(at(91, 1)));
    }

    #[test]
    fn a_connection_opened_and_closed_after_a_trim_is_trimmed() {
        let mut spells = QuietSpells::default();
        spells.trim_now(at(90, 1));
        assert!(spells.trim_now(at(90, 1)));
        // More than at the last trim, then back to as many: one closed.
        assert!(!spells.trim_now(at(90, 2)));
        assert!(spells.trim_now(at(90, 1)));
        assert!(!spells.trim_now(at(90, 1)));
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
