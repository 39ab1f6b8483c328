//! Password hashing on threads of its own, one per core, fed from one queue.
//!
//! Argon2 is bound by memory bandwidth: more hashes at once than cores finish no
//! sooner, they only evict each other's memory from the caches and take the cores
//! from request handling, the database and the broker. So exactly one thread per
//! core hashes, each taking the next job the moment it finishes one; nothing waits for
//! an async task to be scheduled between two hashes, which is how a core sat idle
//! under load while jobs queued.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{Arc, Mutex, PoisonError, mpsc},
};

use tokio::sync::oneshot;

use crate::domain::accounts::PasswordHasher;

/// Password hashing could not run (its thread panicked or has stopped).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed")]
pub struct HashingFailed;

type Job = Box<dyn FnOnce(&PasswordHasher) + Send>;

/// The hashing threads. Cloning shares them; they stop when the last clone is
/// dropped and the queue is empty.
#[derive(Clone)]
pub struct HashingPool {
    jobs: mpsc::Sender<Job>,
}

impl HashingPool {
    /// How many threads [`HashingPool::start`] uses by default: one per core.
    pub fn default_threads() -> usize {
        std::thread::available_parallelism().map_or(1, usize::from)
    }

    /// Starts `threads` hashing threads sharing `hasher`.
    pub fn start(hasher: PasswordHasher, threads: usize) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads.max(1) {
            let (queue, hasher) = (queue.clone(), hasher.clone());
            std::thread::Builder::new()
                .name(format!("password-hashing-{n}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while this thread is the one waiting
                        // for the next job, never while it hashes.
                        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                        let Ok(job) = next else { return };
                        // A panic drops the job's answer channel, which the caller
                        // sees as `HashingFailed`; the thread goes on.
                        let _ = catch_unwind(AssertUnwindSafe(|| job(&hasher)));
                    }
                })?;
        }
        Ok(Self { jobs })
    }

    /// Runs `work` on a hashing thread as soon as one is free and returns its result.
    /// Jobs start in the order they were queued. When the caller stops waiting (the
    /// client went away), a job that has not started yet is skipped.
    pub async fn run<T, F>(&self, work: F) -> Result<T, HashingFailed>
    where
        F: FnOnce(&PasswordHasher) -> T + Send + 'static,
        T: Send + 'static,
    {
        let (answer, result) = oneshot::channel();
        let job: Job = Box::new(move |hasher| {
            if !answer.is_closed() {
                let _ = answer.send(work(hasher));
            }
        });
        self.jobs.send(job).map_err(|_| HashingFailed)?;
        result.await.map_err(|_| HashingFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::accounts::{PasswordHashingArgs, Verification};

    fn pool(threads: usize) -> HashingPool {
        let args = PasswordHashingArgs {
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            password_min_score: 3,
        };
        HashingPool::start(
            PasswordHasher::new(&args, threads).expect("hasher"),
            threads,
        )
        .expect("hashing threads")
    }

    #[tokio::test]
    async fn runs_jobs_and_outlives_a_panicking_one() {
        let pool = pool(1);
        let hash = pool
            .run(|hasher| hasher.hash("copper lantern meadow"))
            .await
            .expect("a job runs")
            .expect("a hash");
        let panicked = pool.run(|_| -> () { panic!("a job that fails") }).await;
        assert!(panicked.is_err(), "a panicking job reports failure");
        let verified = pool
            .run(move |hasher| hasher.verify("copper lantern meadow", &hash))
            .await
            .expect("the thread still runs jobs after a panic");
        assert_eq!(verified, Verification::Match);
    }

    #[tokio::test]
    async fn many_jobs_on_fewer_threads_all_finish() {
        let pool = pool(2);
        let jobs = (0..6).map(|n| {
            let pool = pool.clone();
            async move { pool.run(move |_| n * 2).await.expect("a job runs") }
        });
        let results = futures::future::join_all(jobs).await;
        assert_eq!(results, vec![0, 2, 4, 6, 8, 10]);
    }
}
