//! Splitting a build over a few threads. The engine stays pure and deterministic: chunks are
//! contiguous, their results are returned in order, and the same input gives the same output
//! for any number of threads.

/// How many threads [`crate::build`] uses: the machines kubehop targets have at least
/// two cores, and the TUI and its tokio tasks need the rest.
pub const BUILD_THREADS: usize = 2;

/// Below this many items a chunk is not worth a thread.
const MIN_CHUNK: usize = 512;

/// Runs `a` and `b`, `a` on a scoped thread when `threads` allows a second one; returns both
/// results.
pub(crate) fn join<A, B>(
    threads: usize,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B,
) -> (A, B)
where
    A: Send,
{
    if threads <= 1 {
        let first = a();
        return (first, b());
    }
    std::thread::scope(|scope| {
        let handle = scope.spawn(a);
        let second = b();
        match handle.join() {
            Ok(first) => (first, second),
            // The engine does not panic on any input; if a bug makes it, pass it on.
            Err(payload) => std::panic::resume_unwind(payload),
        }
    })
}

/// Maps `work` over up to `threads` contiguous chunks of `items`, the first on the calling
/// thread and the others on scoped threads; returns the results in chunk order.
pub(crate) fn map_chunks<'a, T, R, F>(items: &'a [T], threads: usize, work: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&'a [T]) -> R + Sync,
{
    map_chunks_of(items, threads, MIN_CHUNK, work)
}

/// [`map_chunks`] with chunks of at least `min_chunk` items (for items that are each a lot of
/// work, like whole namespaces).
pub(crate) fn map_chunks_of<'a, T, R, F>(
    items: &'a [T],
    threads: usize,
    min_chunk: usize,
    work: F,
) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&'a [T]) -> R + Sync,
{
    let threads = threads.clamp(1, items.len().div_ceil(min_chunk.max(1)).max(1));
    if threads == 1 {
        return vec![work(items)];
    }
    let size = items.len().div_ceil(threads);
    let mut chunks = items.chunks(size);
    let first = chunks.next().unwrap_or_default();
    std::thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = chunks
            .map(|chunk| scope.spawn(move || work(chunk)))
            .collect();
        let mut results = Vec::with_capacity(handles.len() + 1);
        results.push(work(first));
        for handle in handles {
            match handle.join() {
                Ok(result) => results.push(result),
                // The engine does not panic on any input; if a bug makes it, pass it on.
                Err(payload) => std::panic::resume_unwind(payload),
            }
        }
        results
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_come_back_in_order_for_any_thread_count() {
        let items: Vec<u32> = (0..5_000).collect();
        for threads in [0, 1, 2, 3, 8] {
            let sums: Vec<Vec<u32>> = map_chunks(&items, threads, |chunk| chunk.to_vec());
            assert_eq!(sums.concat(), items, "{threads} threads");
        }
        let small: Vec<u32> = (0..10).collect();
        assert_eq!(map_chunks(&small, 8, <[u32]>::len), vec![10]);
    }

    #[test]
    fn a_build_is_the_same_on_any_number_of_threads() {
        use crate::synthetic::{SyntheticSpec, generate_with_policies};
        use crate::{EngineConfig, build_on_threads};
        // With NetworkPolicies: each thread keeps verdicts from chain to chain of its own
        // chunk, and the blocks must not depend on where the chunks split.
        let snapshot = generate_with_policies(
            &SyntheticSpec {
                services: 1_500,
                pods: 4_000,
                nodes: 30,
                namespaces: 7,
            },
            300,
        );
        let config = EngineConfig::default();
        let json = |threads| {
            let model = build_on_threads(&snapshot, &config, threads);
            let unattached: Vec<String> = model
                .unattached_by_namespace()
                .map(|(namespace, diagnostic)| format!("{namespace} {}", diagnostic.message))
                .collect();
            (
                serde_json::to_string(&model).expect("serialises"),
                unattached,
            )
        };
        let one = json(1);
        assert!(one.0.len() > 1_000_000);
        assert!(
            one.0.contains("\"isolatedBy\""),
            "the policies reach the chains"
        );
        for threads in [2, 3] {
            assert!(json(threads) == one, "{threads} threads differ from one");
        }
    }
}
