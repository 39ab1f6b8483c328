//! CPU time per program, read from `/proc`, so a benchmark can show where a
//! scenario's CPU went: the services, PostgreSQL, the broker, the search engine,
//! the load generator itself, and how long the cores were idle or taken by other
//! machines on the host. Linux only; elsewhere the tables come out empty.

use std::{collections::BTreeMap, time::Instant};

/// CPU seconds used so far by every program running, by program name.
pub struct CpuSnapshot {
    taken: Instant,
    seconds: BTreeMap<String, f64>,
}

impl CpuSnapshot {
    /// Reads the CPU time of every process now.
    pub fn take() -> Self {
        let mut seconds = BTreeMap::new();
        // Every Linux system this runs on counts in hundredths of a second.
        const TICKS_PER_SECOND: f64 = 100.0;
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            // Processes only: `/proc/self` and `/proc/thread-self` are this program
            // again.
            if !entry
                .file_name()
                .as_encoded_bytes()
                .iter()
                .all(u8::is_ascii_digit)
            {
                continue;
            }
            let path = entry.path();
            let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
                continue;
            };
            let cmdline = std::fs::read(path.join("cmdline")).unwrap_or_default();
            // The fields after the parenthesised command name: utime and stime are
            // the 12th and 13th of them.
            let Some((_, fields)) = stat.rsplit_once(") ") else {
                continue;
            };
            let fields: Vec<&str> = fields.split_whitespace().collect();
            let ticks = |n: usize| fields.get(n).and_then(|f| f.parse::<f64>().ok());
            let (Some(user), Some(system)) = (ticks(11), ticks(12)) else {
                continue;
            };
            *seconds.entry(program_name(&cmdline)).or_default() +=
                (user + system) / TICKS_PER_SECOND;
        }
        // Time no program had: cores idle, and cores the hypervisor gave to other
        // machines ("steal"), which shows how busy the shared host was.
        if let Ok(stat) = std::fs::read_to_string("/proc/stat")
            && let Some(line) = stat.lines().find(|line| line.starts_with("cpu "))
        {
            let fields: Vec<f64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|field| field.parse().ok())
                .collect();
            let field = |n: usize| fields.get(n).copied().unwrap_or_default() / TICKS_PER_SECOND;
            // user nice system idle iowait irq softirq steal
            seconds.insert("(idle)".to_owned(), field(3) + field(4));
            seconds.insert("(steal)".to_owned(), field(7));
        }
        Self {
            taken: Instant::now(),
            seconds,
        }
    }

    /// The CPU each program used between `earlier` and now.
    pub fn usage_since(&self, earlier: &CpuSnapshot) -> CpuUsage {
        let seconds = self
            .seconds
            .iter()
            .map(|(name, seconds)| {
                let before = earlier.seconds.get(name).copied().unwrap_or_default();
                (name.clone(), seconds - before)
            })
            .collect();
        CpuUsage {
            elapsed: self.taken.duration_since(earlier.taken).as_secs_f64(),
            seconds,
        }
    }
}

/// CPU seconds by program over some elapsed time.
#[derive(Default)]
pub struct CpuUsage {
    elapsed: f64,
    seconds: BTreeMap<String, f64>,
}

impl CpuUsage {
    /// Adds another period.
    pub fn merge(&mut self, other: CpuUsage) {
        self.elapsed += other.elapsed;
        for (name, seconds) in other.seconds {
            *self.seconds.entry(name).or_default() += seconds;
        }
    }

    /// Each program's share of one core, largest first, those under half a percent
    /// left out.
    pub fn shares(&self) -> Vec<(String, f64)> {
        let mut shares: Vec<(String, f64)> = self
            .seconds
            .iter()
            .map(|(name, seconds)| {
                (
                    name.clone(),
                    seconds / self.elapsed.max(f64::EPSILON) * 100.0,
                )
            })
            .filter(|(_, percent)| *percent >= 0.5)
            .collect();
        shares.sort_by(|a, b| b.1.total_cmp(&a.1));
        shares
    }

    /// Prints the shares as one line: `title (% of one core): command-api 150%, ...`.
    pub fn print(&self, title: &str) {
        let listed: Vec<String> = self
            .shares()
            .iter()
            .map(|(name, percent)| format!("{name} {percent:.0}%"))
            .collect();
        println!("{title} (% of one core): {}", listed.join(", "));
    }
}

/// The program's name, with the JVM programs told apart and kernel threads (which have
/// no command line) grouped.
fn program_name(cmdline: &[u8]) -> String {
    let args: Vec<&[u8]> = cmdline.split(|byte| *byte == 0).collect();
    let Some(first) = args.first().filter(|arg| !arg.is_empty()) else {
        return "kernel".to_owned();
    };
    let first = String::from_utf8_lossy(first);
    let name = first.rsplit('/').next().unwrap_or_default();
    let name = name.split_whitespace().next().unwrap_or_default();
    if name == "java" {
        let all = String::from_utf8_lossy(cmdline);
        return if all.contains("kafka.Kafka") {
            "kafka".to_owned()
        } else if all.contains("opensearch") || all.contains("elasticsearch") {
            "opensearch".to_owned()
        } else {
            "java".to_owned()
        };
    }
    if name.starts_with("postgres") {
        return "postgres".to_owned();
    }
    name.to_owned()
}
