//! Keeps each sensor's state on one worker and turns readings into results.
//!
//! ```text
//!  validated ──(exchange by sensor)──┐
//!                                    ├─► TrackSensors ─┬─► readings    (stored, flagged)
//!  registry ───(exchange by sensor)──┘   per-sensor     ├─► windows     (-old,+new per time)
//!                                        SensorState    ├─► latest      (-old,+new per time)
//!                                                       ├─► anomalies
//!                                                       ├─► dead letters (out of range, too late)
//!                                                       └─► alert transitions (fired, escalated, …)
//! ```
//!
//! A sensor's readings come from one partition, read by one worker, through
//! FIFO channels: they arrive in offset order and are processed in it. A
//! registry change applies to readings whose partition clock is at least
//! `reference_delay_ms` after its own, so a reading waits until the registry
//! input has passed its clock minus that delay: every change it may see has
//! then arrived (see `SensorState`). With the delay above the idle grace,
//! idle registry partitions (which follow wall time minus the grace) never
//! hold a reading back.
//! Within one timely time, changes to the same window or latest state are
//! consolidated into one `-old,+new` pair.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::sync::atomic::Ordering;

use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::progress::Antichain;

use super::stable_hash;
use crate::config::{AlertPolicy, DataflowConfig};
use crate::records::{
    AlertTransition, Anomaly, DeadLetter, LatestState, RegistryRecord, StoredReading, Time, Update,
    Validated, WindowAggregate,
};
use crate::state::{AlertSeed, GraphCounters, SensorState, StateGauge};

/// The per-sensor outputs, each an update stream.
pub struct SensorOutputs<'scope> {
    /// Every accepted reading (including too-late ones, flagged).
    pub readings: Stream<'scope, Time, Vec<Update<StoredReading>>>,
    /// Window aggregates.
    pub windows: Stream<'scope, Time, Vec<Update<WindowAggregate>>>,
    /// Latest state per sensor.
    pub latest: Stream<'scope, Time, Vec<Update<LatestState>>>,
    /// Anomalies.
    pub anomalies: Stream<'scope, Time, Vec<Update<Anomaly>>>,
    /// Readings rejected by range or lateness.
    pub dead_letters: Stream<'scope, Time, Vec<Update<DeadLetter>>>,
    /// Alert transitions of each sensor, in its reading order.
    pub transitions: Stream<'scope, Time, Vec<AlertTransition>>,
}

/// Tracks every sensor's state.
pub trait TrackSensors<'scope> {
    /// Joins readings with the registry and runs each sensor's state machine.
    fn track_sensors(
        self,
        registry: Stream<'scope, Time, Vec<RegistryRecord>>,
        config: DataflowConfig,
        policy: AlertPolicy,
        seed: std::sync::Arc<AlertSeed>,
        gauge: StateGauge,
        counters: std::sync::Arc<GraphCounters>,
    ) -> SensorOutputs<'scope>;
}

const OUTPUTS: usize = 6;

impl<'scope> TrackSensors<'scope> for Stream<'scope, Time, Vec<Validated>> {
    fn track_sensors(
        self,
        registry: Stream<'scope, Time, Vec<RegistryRecord>>,
        config: DataflowConfig,
        policy: AlertPolicy,
        seed: std::sync::Arc<AlertSeed>,
        gauge: StateGauge,
        counters: std::sync::Arc<GraphCounters>,
    ) -> SensorOutputs<'scope> {
        let mut builder = OperatorBuilder::new("TrackSensors".to_owned(), self.scope());
        let by_reading =
            Exchange::new(|v: &Validated| stable_hash(v.reading.sensor_id.as_str().as_bytes()));
        let by_record = Exchange::new(|r: &RegistryRecord| stable_hash(r.sensor_id.as_bytes()));
        let mut readings_in = builder.new_input(self, by_reading);
        let mut registry_in = builder.new_input(registry, by_record);
        // Outputs depend on the readings input only: a registry record
        // changes state, never emits. Readings that wait for the registry
        // hold their capabilities, which is what holds the outputs back.
        let from_readings = || [(0, Antichain::from_elem(0))];
        let (readings, readings_stream) = builder.new_output_connection(from_readings());
        let (windows, windows_stream) = builder.new_output_connection(from_readings());
        let (latest, latest_stream) = builder.new_output_connection(from_readings());
        let (anomalies, anomalies_stream) = builder.new_output_connection(from_readings());
        let (dead, dead_stream) = builder.new_output_connection(from_readings());
        let (alerts, alerts_stream) = builder.new_output_connection(from_readings());
        let mut readings = OutputBuilder::from(readings);
        let mut windows = OutputBuilder::from(windows);
        let mut latest = OutputBuilder::from(latest);
        let mut anomalies = OutputBuilder::from(anomalies);
        let mut dead = OutputBuilder::from(dead);
        let mut alerts = OutputBuilder::from(alerts);

        builder.build(move |_| {
            let mut sensors = Slab::default();
            let mut pending: VecDeque<(Time, Validated)> = VecDeque::new();
            let mut capabilities: BTreeMap<Time, Vec<Capability<Time>>> = BTreeMap::new();
            // Per time: the first "before" and the last "after" of each changed
            // window and latest state, by sensor slot.
            let mut changes: HashMap<usize, Changes, FnvBuild> = HashMap::default();
            // The clock up to which silent sensors were last looked for.
            let mut swept: i64 = i64::MIN;
            let sweep_every = (config.forget_after_ms / 4).clamp(1, 60_000);
            // Sensors that can fall silent, by the clock at which to look at
            // them (one entry each), and a capability of the alerts output
            // at the earliest: a silent alert is sent at its deadline.
            let mut quiet: BinaryHeap<Reverse<(i64, usize)>> = BinaryHeap::new();
            let mut quiet_cap: Option<Capability<Time>> = None;
            move |frontiers| {
                registry_in.for_each_stamp(|_, data| {
                    for record in data.flat_map(|d| d.drain(..)) {
                        let slot = sensors.slot_of(&record.sensor_id, &seed);
                        let state = &mut sensors.states[slot];
                        let before = state.footprint();
                        state.apply_registry(&record);
                        gauge.adjust(sensors.live(), before, sensors.states[slot].footprint());
                    }
                });
                // `for_each`, not `for_each_stamp`: the latter sorts containers by
                // stamp with an unstable sort, which can reorder one sensor's
                // readings within a time. Arrival order is offset order.
                readings_in.for_each(|cap, data| {
                    let Some(&time) = cap.least() else { return };
                    capabilities.entry(time).or_insert_with(|| {
                        (0..OUTPUTS).map(|port| cap.delayed(&time, port)).collect()
                    });
                    pending.extend(data.drain(..).map(|v| (time, v)));
                });
                // Silent sensors: once every reading still to come has a
                // clock past their last one plus `forget_after_ms`, their
                // next reading would forget them anyway; drop them now.
                let coming = earliest(&frontiers[0].frontier(), &pending);
                if coming != i64::MAX && coming.saturating_sub(swept) >= sweep_every {
                    swept = coming;
                    let forgotten = sensors.forget_silent(coming, &config, &gauge);
                    if forgotten > 0 {
                        counters.forgotten.fetch_add(forgotten, Ordering::Relaxed);
                    }
                }
                if pending.is_empty() {
                    capabilities.clear();
                }
                'process: {
                    if pending.is_empty() {
                        break 'process;
                    }

                    let registry_frontier = &frontiers[1];
                    let mut readings = readings.activate();
                    let mut windows = windows.activate();
                    let mut latest = latest.activate();
                    let mut anomalies = anomalies.activate();
                    let mut dead = dead.activate();
                    let mut alerts = alerts.activate();
                    let mut waiting = VecDeque::new();
                    let mut silent = Vec::new();
                    // Ready readings are processed in arrival order; a run of one
                    // time shares its output sessions and its consolidation.
                    while let Some((time, first)) = pending.pop_front() {
                        let Some(caps) = capabilities.get(&time) else {
                            continue; // unreachable: every pending time retains its capabilities
                        };
                        let mut readings = readings.session(&caps[0]);
                        let mut anomalies = anomalies.session(&caps[3]);
                        let mut dead = dead.session(&caps[4]);
                        let mut alerts = alerts.session(&caps[5]);
                        let mut next = Some(first);
                        while let Some(v) = next.take() {
                            // Every registry change this reading may see has a
                            // clock <= its clock - reference_delay_ms.
                            let visible =
                                v.origin.clock_ms.saturating_sub(config.reference_delay_ms);
                            if registry_frontier.less_equal(&Time::try_from(visible).unwrap_or(0)) {
                                waiting.push_back((time, v));
                            } else {
                                let slot = sensors.slot_of(v.reading.sensor_id.as_str(), &seed);
                                let state = &mut sensors.states[slot];
                                let before = state.footprint();
                                let (partition, offset) = (v.origin.partition, v.origin.offset);
                                let rewound = seed.rewind_clocks.get(&partition).copied();
                                // A sensor's readings come in clock order: this
                                // one says none came before its clock.
                                let upto = v.origin.clock_ms;
                                let mut decided_at = None;
                                if state.queued_at.is_some_and(|due| due < upto) {
                                    let from = silent.len();
                                    decide_silence(
                                        state,
                                        slot,
                                        upto,
                                        &policy,
                                        &mut quiet,
                                        &mut silent,
                                    );
                                    decided_at = silent[from..].iter().map(|(at, _)| *at).max();
                                }
                                let effects = state.process(v, &config, rewound);
                                if let Some(duplicate) = effects.duplicate {
                                    counters.duplicate(duplicate);
                                }
                                if !seed.replayed(partition, offset) {
                                    let transitions = state.alert(&effects, &policy);
                                    match decided_at {
                                        // Sent no earlier than what the silence
                                        // decided (its resolution follows it).
                                        Some(at) => {
                                            let at =
                                                at.max(i64::try_from(time).unwrap_or(i64::MAX));
                                            silent.extend(transitions.into_iter().map(|t| (at, t)));
                                        }
                                        None => alerts.give_iterator(transitions.into_iter()),
                                    }
                                }
                                if let Some(due) = state.hear(&effects, &policy)
                                    && state.queued_at.is_none()
                                {
                                    // Due no earlier than this reading's clock,
                                    // so no earlier than its time.
                                    state.queued_at = Some(due);
                                    quiet.push(Reverse((due, slot)));
                                    let at = Time::try_from(due).unwrap_or(Time::MAX);
                                    if quiet_cap.as_ref().is_none_or(|c| *c.time() > at) {
                                        quiet_cap = Some(caps[5].delayed(&at));
                                    }
                                }
                                gauge.adjust(
                                    sensors.live(),
                                    before,
                                    sensors.states[slot].footprint(),
                                );
                                if let Some(stored) = effects.stored {
                                    readings.give((stored, time, 1));
                                }
                                if let Some(anomaly) = effects.anomaly {
                                    anomalies.give((anomaly, time, 1));
                                }
                                if let Some(letter) = effects.dead_letter {
                                    dead.give((letter, time, 1));
                                }
                                changes
                                    .entry(slot)
                                    .or_default()
                                    .absorb(effects.windows, effects.latest);
                            }
                            if pending.front().is_some_and(|(t, _)| *t == time) {
                                next = pending.pop_front().map(|(_, v)| v);
                            }
                        }
                        let mut windows = windows.session(&caps[1]);
                        let mut latest = latest.session(&caps[2]);
                        for (_, change) in changes.drain() {
                            for (old, new) in change.windows {
                                if old.as_ref() != Some(&new) {
                                    if let Some(old) = old {
                                        windows.give((old, time, -1));
                                    }
                                    windows.give((new, time, 1));
                                }
                            }
                            for (old, new) in change.latest {
                                if old.as_ref() != Some(&new) {
                                    if let Some(old) = old {
                                        latest.give((old, time, -1));
                                    }
                                    latest.give((new, time, 1));
                                }
                            }
                        }
                    }
                    pending = waiting;
                    let still: BTreeSet<Time> = pending.iter().map(|(t, _)| *t).collect();
                    capabilities.retain(|t, _| still.contains(t));
                    for (cap, transition) in timed(quiet_cap.as_ref(), silent) {
                        alerts.session(&cap).give(transition);
                    }
                }
                let coming = earliest(&frontiers[0].frontier(), &pending);
                // Silent sensors: no reading can still come with a clock
                // before `coming` (those read but waiting are among
                // `pending`), so a sensor whose deadline is earlier sent
                // nothing up to it (one that did report again was decided
                // as its reading came, above). Decided on the partitions' clocks (the
                // data's while they carry data, wall time minus the idle
                // grace for idle ones); an empty frontier (a bounded run's
                // end) decides nothing: past the data no clock says how long.
                'silence: {
                    if coming == i64::MAX {
                        quiet.clear();
                        quiet_cap = None;
                        break 'silence;
                    }
                    if quiet.peek().is_none_or(|Reverse((due, _))| *due >= coming) {
                        break 'silence;
                    }
                    let mut silent = Vec::new();
                    while let Some(&Reverse((due, slot))) = quiet.peek() {
                        if due >= coming {
                            break;
                        }
                        quiet.pop();
                        let state = &mut sensors.states[slot];
                        if state.queued_at == Some(due) {
                            decide_silence(state, slot, coming, &policy, &mut quiet, &mut silent);
                        } // else: a stale entry (decided since, or a slot reused)
                    }
                    let mut alerts = alerts.activate();
                    for (cap, transition) in timed(quiet_cap.as_ref(), silent) {
                        alerts.session(&cap).give(transition);
                    }
                    match (quiet.peek(), &mut quiet_cap) {
                        (Some(Reverse((due, _))), Some(cap)) => {
                            let at = Time::try_from(*due).unwrap_or(Time::MAX);
                            if at > *cap.time() {
                                cap.downgrade(&at);
                            }
                        }
                        (None, _) => quiet_cap = None,
                        (Some(_), None) => {} // unreachable: a queued sensor holds the capability
                    }
                }
            }
        });

        SensorOutputs {
            readings: readings_stream,
            windows: windows_stream,
            latest: latest_stream,
            anomalies: anomalies_stream,
            dead_letters: dead_stream,
            transitions: alerts_stream,
        }
    }
}

/// The earliest time a reading still to come can have: the input frontier's,
/// or a waiting reading's (`i64::MAX` when the input is over and none waits).
fn earliest(frontier: &[Time], pending: &VecDeque<(Time, Validated)>) -> i64 {
    frontier
        .iter()
        .copied()
        .chain(pending.iter().map(|(t, _)| *t))
        .min()
        .map_or(i64::MAX, |t| i64::try_from(t).unwrap_or(i64::MAX))
}

/// Runs the silent-sensor rule of the sensor in `slot` for every clock it
/// is queued at before `upto` (no reading of it can come with a clock
/// before that): collects what it decides, by the clock it is sent at, and
/// queues the sensor again for what comes next (an escalation, a deadline).
fn decide_silence(
    state: &mut SensorState,
    slot: usize,
    upto: i64,
    policy: &AlertPolicy,
    quiet: &mut BinaryHeap<Reverse<(i64, usize)>>,
    out: &mut Vec<(i64, AlertTransition)>,
) {
    while let Some(due) = state.queued_at.filter(|due| *due < upto) {
        state.queued_at = None;
        let (decided, next) = state.silence(due, policy);
        out.extend(decided.into_iter().map(|t| (due, t)));
        if let Some(next) = next {
            state.queued_at = Some(next);
            quiet.push(Reverse((next, slot)));
        }
    }
}

/// Silent-sensor transitions with the capability to send each at the clock
/// it was decided at: `cap` is held at the earliest queued clock, at or
/// before each of them.
fn timed(
    cap: Option<&Capability<Time>>,
    silent: Vec<(i64, AlertTransition)>,
) -> Vec<(Capability<Time>, AlertTransition)> {
    let Some(cap) = cap else {
        return Vec::new(); // unreachable: a queued sensor holds the capability
    };
    silent
        .into_iter()
        .map(|(due, mut transition)| {
            let at = Time::try_from(due).unwrap_or(Time::MAX).max(*cap.time());
            let clock = i64::try_from(at).unwrap_or(i64::MAX);
            transition.origin.clock_ms = transition.origin.clock_ms.max(clock);
            (cap.delayed(&at), transition)
        })
        .collect()
}

/// Sensor states in a slab, found by id without allocating; slots of
/// forgotten sensors are reused.
#[derive(Default)]
struct Slab {
    slots: HashMap<String, usize, FnvBuild>,
    states: Vec<SensorState>,
    ids: Vec<String>,
    free: Vec<usize>,
}

impl Slab {
    /// The slot of `id`, created (with its seeded alert state) if new.
    fn slot_of(&mut self, id: &str, seed: &AlertSeed) -> usize {
        if let Some(slot) = self.slots.get(id) {
            return *slot;
        }
        let mut state = SensorState::default();
        if let Some(keys) = seed.sensors.get(id) {
            state.seed_alerts(keys);
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                self.states[slot] = state;
                self.ids[slot] = id.to_string();
                slot
            }
            None => {
                self.states.push(state);
                self.ids.push(id.to_string());
                self.states.len() - 1
            }
        };
        self.slots.insert(id.to_string(), slot);
        slot
    }

    /// Sensors with state.
    fn live(&self) -> usize {
        self.slots.len()
    }

    /// Forgets the sensors every rule is done with at `clock` (see
    /// [`SensorState::forgettable`]): a registered one keeps its registry
    /// versions, an unregistered one leaves entirely. Returns how many.
    fn forget_silent(&mut self, clock: i64, config: &DataflowConfig, gauge: &StateGauge) -> u64 {
        let mut forgotten = 0;
        for slot in 0..self.states.len() {
            let state = &mut self.states[slot];
            if self.ids[slot].is_empty() || !state.forgettable(clock, config) {
                continue;
            }
            let before = state.footprint();
            state.forget();
            if !state.registered() {
                self.slots.remove(&self.ids[slot]);
                self.states[slot] = SensorState::default();
                self.ids[slot] = String::new();
                self.free.push(slot);
            }
            gauge.adjust(self.slots.len(), before, self.states[slot].footprint());
            forgotten += 1;
        }
        if self.slots.capacity() > 4 * self.slots.len().max(1_024) {
            self.slots.shrink_to_fit();
        }
        forgotten
    }
}

/// One sensor's changes within one time: for each incarnation of a window
/// or latest state, its first "before" and last "after". A change without a
/// "before" starts a new incarnation (the state forgot the old one, which
/// stays emitted as it was), so it is never folded into an earlier one:
/// what the operator emits must not depend on how readings share a time.
#[derive(Default)]
struct Changes {
    windows: Vec<(Option<WindowAggregate>, WindowAggregate)>,
    latest: Vec<(Option<LatestState>, LatestState)>,
}

impl Changes {
    fn absorb(
        &mut self,
        windows: Vec<(Option<WindowAggregate>, WindowAggregate)>,
        latest: Option<(Option<LatestState>, LatestState)>,
    ) {
        for (old, new) in windows {
            let same =
                |seen: &WindowAggregate| seen.size == new.size && seen.start_ms == new.start_ms;
            match self.windows.iter_mut().rev().find(|(_, seen)| same(seen)) {
                Some(change) if old.is_some() => change.1 = new,
                _ => self.windows.push((old, new)),
            }
        }
        if let Some((old, new)) = latest {
            match self.latest.last_mut() {
                Some(change) if old.is_some() => change.1 = new,
                _ => self.latest.push((old, new)),
            }
        }
    }
}

/// FNV-1a as a `Hasher`: sensor ids are short, and SipHash showed in profiles.
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type FnvBuild = std::hash::BuildHasherDefault<Fnv>;
