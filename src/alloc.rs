//! The process allocator: the system's, asking Linux for transparent huge
//! pages on large allocations (the graph's arrays). A kinship check is a
//! handful of random reads over gigabytes; with 4 KiB pages nearly each
//! one also misses the TLB. The machine's THP mode is `madvise`, so the
//! arrays must ask.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, Ordering};

/// Allocations from this size on are advised to use huge pages.
const ADVISE_FROM: usize = 8 << 20;
const HUGE_PAGE: usize = 2 << 20;

pub struct HugePages;

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns the advice on or off (on by default), e.g. to measure its effect.
pub fn advise_huge_pages(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

fn advise(p: *mut u8, size: usize) {
    #[cfg(target_os = "linux")]
    if !p.is_null() && size >= ADVISE_FROM && ENABLED.load(Ordering::Relaxed) {
        let start = (p as usize).next_multiple_of(HUGE_PAGE);
        let end = (p as usize + size) / HUGE_PAGE * HUGE_PAGE;
        if end > start {
            // SAFETY: the range lies inside an allocation we own; madvise
            // only gives the kernel a hint about it.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (p, size, ADVISE_FROM, HUGE_PAGE);
}

// SAFETY: every call is forwarded to `System`; `advise` never touches the
// memory's contents.
unsafe impl GlobalAlloc for HugePages {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        advise(p, layout.size());
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        advise(p, layout.size());
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, layout, new_size) };
        advise(q, new_size);
        q
    }
}
