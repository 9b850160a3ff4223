//! The output tap: every output update of a worker counted, dead letters
//! counted by reason, and (with `weir run --output DIR`) written as JSON
//! lines to `DIR/worker-N.jsonl`, one `{"output", "time", "diff", "record"}`
//! object per line.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde::Serialize;
use timely::dataflow::operators::{Inspect, Probe};
use timely::dataflow::{ProbeHandle, Stream};
use weir_dataflow::graph::{OutputVisitor, Outputs};
use weir_dataflow::records::{OutputKind, OutputRecord, Time, Update};

use crate::ConnectorError;

/// Updates per output (every output present, from 0).
pub type Counts = BTreeMap<OutputKind, u64>;

/// What a worker's tap saw.
#[derive(Clone, Debug, Default)]
pub struct Tapped {
    /// Updates per output.
    pub counts: Counts,
    /// Dead letters (insertions) per reason.
    pub reasons: BTreeMap<String, u64>,
}

/// A worker's output tap (see the module).
pub struct OutputTap {
    tapped: Tapped,
    file: Option<(PathBuf, BufWriter<File>)>,
    error: Option<std::io::Error>,
}

#[derive(Serialize)]
struct Line<'a, D> {
    output: &'a str,
    time: Time,
    diff: isize,
    record: &'a D,
}

impl OutputTap {
    /// A tap for worker `index`, writing to `dir/worker-{index}.jsonl` when
    /// `dir` is given (created if missing).
    pub fn new(dir: Option<&Path>, index: usize) -> Result<Rc<RefCell<OutputTap>>, ConnectorError> {
        let file = match dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| io_error("creating", dir, e))?;
                let path = dir.join(format!("worker-{index}.jsonl"));
                let file = File::create(&path).map_err(|e| io_error("creating", &path, e))?;
                Some((path, BufWriter::new(file)))
            }
            None => None,
        };
        Ok(Rc::new(RefCell::new(OutputTap {
            tapped: Tapped {
                counts: OutputKind::ALL.iter().map(|&kind| (kind, 0)).collect(),
                reasons: BTreeMap::new(),
            },
            file,
            error: None,
        })))
    }

    fn write<D: Serialize>(&mut self, output: OutputKind, update: &Update<D>) {
        *self.tapped.counts.entry(output).or_default() += 1;
        if let (Some((_, file)), None) = (&mut self.file, &self.error) {
            let (record, time, diff) = update;
            let line = Line {
                output: output.name(),
                time: *time,
                diff: *diff,
                record,
            };
            let written = serde_json::to_writer(&mut *file, &line)
                .map_err(std::io::Error::from)
                .and_then(|()| file.write_all(b"\n"));
            if let Err(e) = written {
                self.error = Some(e);
            }
        }
    }

    /// Updates seen so far per output.
    pub fn counts(&self) -> &Counts {
        &self.tapped.counts
    }

    /// Flushes the file and hands over what was seen; the first write
    /// error, if any, fails it.
    pub fn finish(&mut self) -> Result<Tapped, ConnectorError> {
        if let Some((path, file)) = self.file.as_mut() {
            let flushed = match self.error.take() {
                Some(e) => Err(e),
                None => file.flush(),
            };
            flushed.map_err(|e| io_error("writing", path, e))?;
        }
        Ok(std::mem::take(&mut self.tapped))
    }
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> ConnectorError {
    ConnectorError::Io {
        context: format!("{what} {}", path.display()),
        source: e,
    }
}

/// Taps every output of `outputs` into `tap` (dead letters also by reason,
/// each new one shown to `on_dead_letter`); returns a probe on them all.
pub fn attach(
    outputs: Outputs<'_>,
    tap: &Rc<RefCell<OutputTap>>,
    on_dead_letter: impl Fn(&str) + 'static,
) -> ProbeHandle<Time> {
    struct Visit<'a> {
        tap: &'a Rc<RefCell<OutputTap>>,
        probe: ProbeHandle<Time>,
    }
    impl<'s> OutputVisitor<'s> for Visit<'_> {
        fn visit<D: OutputRecord>(&mut self, stream: &Stream<'s, Time, Vec<Update<D>>>) {
            let tap = Rc::clone(self.tap);
            stream
                .clone()
                .inspect(move |update| tap.borrow_mut().write(D::KIND, update))
                .probe_with(&self.probe);
        }
    }
    let mut visit = Visit {
        tap,
        probe: ProbeHandle::new(),
    };
    outputs.visit(&mut visit);
    let reasons = Rc::clone(tap);
    outputs.dead_letters.inspect(move |(letter, _, diff)| {
        if *diff > 0 {
            on_dead_letter(&letter.reason);
            *reasons
                .borrow_mut()
                .tapped
                .reasons
                .entry(letter.reason.clone())
                .or_default() += 1;
        }
    });
    visit.probe
}
