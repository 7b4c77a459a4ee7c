//! The extension point: a benchmark family contributes rows to the one report, sharing the
//! runtimes, the scratch dir, the id prefix and cleanup verification.
//!
//! Families today: `runtime` (issue 5, scenarios 1-6), `shim-memory` (issue 6), `import`
//! (issue 8), `cri` (pod start and teardown through containerd's CRI plugin), `image` (issue 14:
//! registry pulls), `registry` (issue 15: dm-registry against docker-registry), `build`
//! (issue 16: dm-build against buildah), `network` (issue 18: container networking,
//! dockermindd against dockerd) and `daemon` (issue 17: dockermind's CLI and daemon against
//! docker 20.10 and podman). A new family
//! implements [`Family`] and is listed in [`crate::families`].

use crate::bundle::BenchDir;
use crate::cleanup::Verifier;
use crate::error::Result;
use crate::report::{Cleanup, Row};
use crate::runtime::Runtime;
use crate::scenario::{Ids, Scenario};

/// Sizes of a run, set by the command line (`--smoke` shrinks all of them).
#[derive(Debug, Clone)]
pub struct Options {
    /// Discarded rounds per scenario before measuring.
    pub warmup: usize,
    /// Measured rounds of scenarios 1-4.
    pub rounds: usize,
    /// Measured rounds of the parallel scenario.
    pub parallel_rounds: usize,
    /// Containers per parallel batch.
    pub parallel_count: usize,
    /// Runtime scenarios to run, in order.
    pub scenarios: Vec<Scenario>,
    /// Families to run, by name.
    pub families: Vec<String>,
    /// Running containers per shim in the shim-memory family, one measurement per count.
    pub shim_containers: Vec<usize>,
    /// Payload size of the import family in MB.
    pub import_mb: usize,
    /// Idle time after each timed run, letting deferred kernel work finish first.
    pub settle_ms: u64,
}

/// What every family gets to work with.
pub struct Context<'a> {
    /// The runtimes compared, in table order.
    pub runtimes: &'a [Runtime],
    /// Scratch dir with the shared bundles.
    pub dir: &'a BenchDir,
    /// Container ids carrying the run prefix.
    pub ids: &'a Ids,
    /// Finds leftovers named with the run prefix.
    pub verifier: &'a Verifier,
    /// Sizes of the run.
    pub opts: &'a Options,
    /// Cleanup outcome, appended to by every family.
    pub cleanup: &'a mut Cleanup,
    /// Remarks for the report (skips, caveats).
    pub notes: &'a mut Vec<String>,
}

impl Context<'_> {
    /// Runs the leftover check, records what it finds under `label`, then removes it all so
    /// one runtime's leftover is reported once and does not spill into later rounds.
    pub fn verify(&mut self, label: &str) -> bool {
        let found = self.verifier.leftovers();
        self.cleanup.rounds_checked += 1;
        let clean = found.is_empty();
        for f in found {
            self.cleanup.leftovers.push(format!("{label}: {f}"));
        }
        if clean {
            self.verifier.empty_cover();
        } else {
            self.verifier.reset();
        }
        clean
    }
}

/// A group of benchmarks producing rows for the report.
pub trait Family {
    /// Name used by `--family` and in the rows.
    fn name(&self) -> &'static str;
    /// Runs the family's benchmarks, verifying cleanup as it goes.
    fn run(&self, cx: &mut Context) -> Result<Vec<Row>>;
}
