//! The simulated hub behind the tunnel protocol.
//!
//! The original page and the SPIKE Prime hub exchange JSON messages `{action, payload}` over
//! the firmware's tunnel; the hub also has two buttons and its sensors. [`Hub`] is the same
//! boundary with the robot simulated ([`crate::sim`]): the page's messages, and the button
//! presses that become requests here, go to [`Hub::handle`]; what the hub sends back is a list
//! of [`Event`]s; a running crawler moves on [`Hub::tick`]. A real hub could stand behind the
//! same messages.
//!
//! Every message is checked in full before anything changes: an unknown action, a malformed
//! payload or an out-of-range value (`k = 0`, power 150, NaN) is an error and leaves the hub as
//! it was.
//!
//! | activity | actions (page → hub) | hub → page |
//! |---|---|---|
//! | fruit | `startup_functionality`, `change_class`, `change_mode`, `change_k`, `delete_datapoint`, `change_datapoint_label`; simulated: `place_fruit`, `press_right` (colour), `press_left` (length); the algorithm: `border` | `add_point`, `inference_result`, `border`, `state` |
//! | pitcher | `code_start`, `change_power`, `pitch_ball`, `measure_distance`, `change_mode`, `delete_datapoint`; simulated: `place_target`; the algorithm: `set_line`, `fit` | `add_point`, `infer_distance`, `line`, `landed`, `state` |
//! | crawler | `code_start`, `continue`, `pause`, `reset`, `epsilon_update`, `think_future_update`, `wait_before_next_move_update` | `action_update`, `state_update`, `tables_update`, `too_close`, `too_far`, `state` |

use crate::error::{BricksError, Result};
use crate::knn::{self, Fruit, Sample, K_MAX};
use crate::linreg::{self, Line, Throw};
use crate::qlearn::{Exploration, QLearner, POSES};
use crate::sim::{self, Crawler, Pitcher, Safety};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The most training points an activity keeps (a class collects a few dozen).
pub const MAX_POINTS: usize = 500;

/// A message to the hub: `{"action": …, "payload": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// What to do.
    pub action: String,
    /// Its arguments (`null` or absent when there are none).
    #[serde(default)]
    pub payload: Value,
}

/// A message from the hub to the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// What happened.
    pub action: String,
    /// Its data.
    pub payload: Value,
}

fn event(action: &str, payload: Value) -> Event {
    Event {
        action: action.to_string(),
        payload,
    }
}

/// The three activities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    /// The fruit detector (k-nearest neighbours).
    Fruit,
    /// The pitcher (linear regression).
    Pitcher,
    /// The crawler (Q-learning).
    Crawler,
}

impl std::str::FromStr for Activity {
    type Err = BricksError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "fruit" => Ok(Activity::Fruit),
            "pitcher" => Ok(Activity::Pitcher),
            "crawler" => Ok(Activity::Crawler),
            other => Err(BricksError::Protocol(format!(
                "unknown activity {other:?}: the activities are fruit, pitcher and crawler"
            ))),
        }
    }
}

/// Training or prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// New measurements become training points.
    Training,
    /// New measurements are classified (fruit) or become the target (pitcher).
    Prediction,
}

/// The fruit detector's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FruitState {
    /// Training or prediction.
    pub mode: Mode,
    /// The label new training points get.
    pub class: Fruit,
    /// The number of neighbours.
    pub k: usize,
    /// The fruit on the caliper (what the simulated sensors measure).
    pub placed: Fruit,
    /// The training points.
    pub points: Vec<Sample>,
    /// The cached colour reading (green channel), until the length comes.
    pub green: Option<f64>,
    /// The cached length reading, until the colour comes.
    pub length: Option<f64>,
    /// The last prediction point and its result.
    pub last_prediction: Option<(f64, f64, knn::Prediction)>,
}

/// The pitcher's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PitcherState {
    /// Training or prediction.
    pub mode: Mode,
    /// The motor power, percent.
    pub power: f64,
    /// Where the last ball landed (until it is measured).
    pub landed: Option<f64>,
    /// The measured throws.
    pub throws: Vec<Throw>,
    /// The line on the sliders.
    pub line: Line,
    /// The last measured target distance (prediction mode).
    pub target: Option<f64>,
}

/// The crawler's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrawlerState {
    /// The learner.
    pub learner: QLearner,
    /// The simulated world.
    pub world: Crawler,
    /// The exploration setting.
    pub exploration: Exploration,
    /// Whether training runs (▶) or is paused (⏸).
    pub running: bool,
    /// "Wait before next move": the page pauses between moves.
    pub wait: bool,
    /// The last move `(from, to, reward)`.
    pub last_move: Option<(usize, usize, f64)>,
}

/// The simulated hub: the three activities' state and the simulator's random stream.
#[derive(Debug, Clone)]
pub struct Hub {
    /// The fruit detector.
    pub fruit: FruitState,
    /// The pitcher.
    pub pitcher: PitcherState,
    /// The crawler.
    pub crawler: CrawlerState,
    physics: Pitcher,
    rng: core_linalg::Rng,
}

fn protocol(msg: impl Into<String>) -> BricksError {
    BricksError::Protocol(msg.into())
}

/// A payload field as a finite number.
fn number(p: &Value, field: &'static str) -> Result<f64> {
    match p.get(field) {
        Some(v) => v
            .as_f64()
            .ok_or_else(|| protocol(format!("payload field {field:?} must be a number, got {v}"))),
        None => Err(protocol(format!("payload needs the field {field:?}"))),
    }
}

fn index(p: &Value, field: &'static str, len: usize) -> Result<usize> {
    let v = p
        .get(field)
        .ok_or_else(|| protocol(format!("payload needs the field {field:?}")))?;
    let i = v.as_u64().ok_or_else(|| {
        protocol(format!(
            "payload field {field:?} must be a whole number ≥ 0, got {v}"
        ))
    })?;
    match usize::try_from(i) {
        Ok(i) if i < len => Ok(i),
        _ => Err(BricksError::Index {
            what: field,
            index: usize::try_from(i).unwrap_or(usize::MAX),
            reason: format!("there are {len} points"),
        }),
    }
}

fn boolean(p: &Value, field: &'static str) -> Result<bool> {
    match p.get(field) {
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(protocol(format!(
            "payload field {field:?} must be true or false, got {v}"
        ))),
        None => Err(protocol(format!("payload needs the field {field:?}"))),
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    p: &Value,
    field: &'static str,
    choices: &str,
) -> Result<T> {
    let v = p
        .get(field)
        .ok_or_else(|| protocol(format!("payload needs the field {field:?}")))?;
    serde_json::from_value(v.clone()).map_err(|_| {
        protocol(format!(
            "payload field {field:?} must be one of {choices}, got {v}"
        ))
    })
}

fn unknown(activity: &str, action: &str, known: &str) -> BricksError {
    protocol(format!(
        "unknown {activity} action {action:?}; the actions are {known}"
    ))
}

impl Hub {
    /// A fresh hub whose simulator draws from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            fruit: FruitState {
                mode: Mode::Training,
                class: Fruit::Apple,
                k: 3,
                placed: Fruit::Apple,
                points: Vec::new(),
                green: None,
                length: None,
                last_prediction: None,
            },
            pitcher: PitcherState {
                mode: Mode::Training,
                power: 50.0,
                landed: None,
                throws: Vec::new(),
                line: Line { m: 1.0, b: -10.0 },
                target: None,
            },
            crawler: CrawlerState {
                learner: QLearner::page(Exploration::High, false),
                world: Crawler::default(),
                exploration: Exploration::High,
                running: false,
                wait: false,
                last_move: None,
            },
            physics: Pitcher::default(),
            rng: core_linalg::seeded_rng(seed),
        }
    }

    /// Everything the page draws, for a reload.
    pub fn state(&self) -> Value {
        json!({
            "fruit": self.fruit,
            "pitcher": self.pitcher,
            "crawler": self.crawler,
        })
    }

    /// Handles one message for `activity`. On an error nothing has changed.
    pub fn handle(&mut self, activity: Activity, msg: &Message) -> Result<Vec<Event>> {
        match activity {
            Activity::Fruit => self.fruit_action(msg),
            Activity::Pitcher => self.pitcher_action(msg),
            Activity::Crawler => self.crawler_action(msg),
        }
    }

    fn fruit_action(&mut self, msg: &Message) -> Result<Vec<Event>> {
        let p = &msg.payload;
        let f = &mut self.fruit;
        match msg.action.as_str() {
            "startup_functionality" => {}
            "change_class" => f.class = parse(p, "class", "\"apple\", \"banana\"")?,
            "change_mode" => f.mode = parse(p, "mode", "\"training\", \"prediction\"")?,
            "change_k" => {
                let k = number(p, "k")?;
                if !(k.fract() == 0.0 && (1.0..=K_MAX as f64).contains(&k)) {
                    return Err(BricksError::OutOfRange {
                        what: "k",
                        value: k,
                        lo: 1.0,
                        hi: K_MAX as f64,
                    });
                }
                f.k = k as usize;
            }
            "delete_datapoint" => {
                let i = index(p, "index", f.points.len())?;
                f.points.remove(i);
            }
            "change_datapoint_label" => {
                let i = index(p, "index", f.points.len())?;
                let label: Fruit = parse(p, "label", "\"apple\", \"banana\"")?;
                f.points[i].label = label;
            }
            "place_fruit" => f.placed = parse(p, "fruit", "\"apple\", \"banana\"")?,
            "border" => {
                // The decision-border map at the current k: one letter per cell, row-major
                // from the shortest length (a apple, b banana, u undecided).
                if f.points.is_empty() {
                    return Err(protocol("collect training points before drawing the border"));
                }
                let grid = knn::decision_grid(&f.points, f.k, knn::GRID)?;
                let cells: String = grid
                    .cells
                    .iter()
                    .map(|v| match v {
                        knn::Vote::Apple => 'a',
                        knn::Vote::Banana => 'b',
                        knn::Vote::Undecided => 'u',
                    })
                    .collect();
                return Ok(vec![event(
                    "border",
                    json!({ "resolution": grid.resolution, "k": f.k, "cells": cells }),
                )]);
            }
            "press_right" | "press_left" => {
                // Every check before the reading is cached: an error leaves the hub as it was.
                if f.mode == Mode::Prediction && f.points.is_empty() {
                    return Err(protocol("collect training points before predicting"));
                }
                if f.mode == Mode::Training && f.points.len() >= MAX_POINTS {
                    return Err(protocol(format!(
                        "the fruit detector keeps at most {MAX_POINTS} points"
                    )));
                }
                let m = sim::measure_fruit(f.placed, &mut self.rng);
                if msg.action == "press_right" {
                    f.green = Some(m.green);
                } else {
                    f.length = Some(m.length);
                }
                if let (Some(green), Some(length)) = (f.green, f.length) {
                    f.green = None;
                    f.length = None;
                    return Ok(vec![self.fruit_point(green, length)?]);
                }
            }
            other => {
                return Err(unknown(
                    "fruit",
                    other,
                    "startup_functionality, change_class, change_mode, change_k, delete_datapoint, change_datapoint_label, place_fruit, press_right, press_left, border",
                ))
            }
        }
        Ok(vec![event("state", json!({ "fruit": self.fruit }))])
    }

    /// Both readings are in: a training point, or a prediction.
    fn fruit_point(&mut self, green: f64, length: f64) -> Result<Event> {
        let f = &mut self.fruit;
        match f.mode {
            Mode::Training => {
                let s = Sample::new(green, length, f.class)?;
                f.points.push(s);
                Ok(event(
                    "add_point",
                    json!({ "point": s, "index": f.points.len() - 1 }),
                ))
            }
            Mode::Prediction => {
                if f.points.is_empty() {
                    return Err(protocol("collect training points before predicting"));
                }
                let pred = knn::predict(&f.points, green, length, f.k)?;
                f.last_prediction = Some((green, length, pred.clone()));
                Ok(event(
                    "inference_result",
                    json!({ "green": green, "length": length, "vote": pred.vote, "neighbours": pred.neighbours }),
                ))
            }
        }
    }

    fn pitcher_action(&mut self, msg: &Message) -> Result<Vec<Event>> {
        let p = &msg.payload;
        let s = &mut self.pitcher;
        let mut out = Vec::new();
        match msg.action.as_str() {
            "code_start" => {}
            "change_mode" => s.mode = parse(p, "mode", "\"training\", \"prediction\"")?,
            "change_power" => {
                let power = number(p, "power")?;
                s.power = crate::error::check_range("power", power, linreg::POWER_MIN, linreg::POWER_MAX)?;
            }
            "pitch_ball" => {
                let landed = self.physics.throw(s.power, &mut self.rng)?;
                s.landed = Some(landed);
                out.push(event("landed", json!({ "distance": landed, "power": s.power })));
            }
            "measure_distance" => {
                let landed = s
                    .landed
                    .ok_or_else(|| protocol("pitch the ball (or place the target) before measuring"))?;
                let d = self.physics.measure(landed)?;
                match s.mode {
                    Mode::Training => {
                        if s.throws.len() >= MAX_POINTS {
                            return Err(protocol(format!(
                                "the pitcher keeps at most {MAX_POINTS} throws"
                            )));
                        }
                        let t = Throw::new(d, s.power)?;
                        s.throws.push(t);
                        s.landed = None;
                        out.push(event("add_point", json!({ "throw": t, "index": s.throws.len() - 1 })));
                    }
                    Mode::Prediction => {
                        // The page then throws at the aimed power, clamp(⌊m·d + b⌋, 20, 100).
                        let power = s.line.aim(d)?;
                        s.target = Some(d);
                        s.landed = None;
                        s.power = power;
                        out.push(event("infer_distance", json!({ "distance": d, "power": power })));
                    }
                }
            }
            "place_target" => {
                // Prediction mode: the cardboard stands at a chosen distance to be measured.
                let d = linreg::check_distance(number(p, "distance")?)?;
                s.landed = Some(d);
            }
            "delete_datapoint" => {
                let i = index(p, "index", s.throws.len())?;
                s.throws.remove(i);
            }
            "set_line" => {
                let line = Line::from_sliders(number(p, "m")?, number(p, "b")?)?;
                s.line = line;
            }
            "fit" => {
                let line = linreg::least_squares(&s.throws)?.rounded();
                s.line = line;
            }
            other => {
                return Err(unknown(
                    "pitcher",
                    other,
                    "code_start, change_mode, change_power, pitch_ball, measure_distance, place_target, delete_datapoint, set_line, fit",
                ))
            }
        }
        if matches!(msg.action.as_str(), "set_line" | "fit" | "delete_datapoint") {
            let s = &self.pitcher;
            let mse = if s.throws.is_empty() {
                Value::Null
            } else {
                json!(linreg::mse(&s.throws, &s.line)?)
            };
            out.push(event(
                "line",
                json!({ "m": s.line.m, "b": s.line.b, "mse": mse, "residuals": linreg::residuals(&s.throws, &s.line) }),
            ));
        }
        out.push(event("state", json!({ "pitcher": self.pitcher })));
        Ok(out)
    }

    fn crawler_action(&mut self, msg: &Message) -> Result<Vec<Event>> {
        let p = &msg.payload;
        let c = &mut self.crawler;
        match msg.action.as_str() {
            "code_start" => {}
            "continue" => c.running = true,
            "pause" => c.running = false,
            "reset" => {
                c.learner.reset();
                c.world = Crawler::default();
                c.running = false;
                c.last_move = None;
            }
            "epsilon_update" => {
                let e: Exploration = parse(p, "exploration", "\"high\", \"low\", \"none\"")?;
                c.learner.set_epsilon(e.epsilon())?;
                c.exploration = e;
            }
            "think_future_update" => c.learner.set_foresight(boolean(p, "foresight")?),
            "wait_before_next_move_update" => c.wait = boolean(p, "wait")?,
            other => {
                return Err(unknown(
                    "crawler",
                    other,
                    "code_start, continue, pause, reset, epsilon_update, think_future_update, wait_before_next_move_update",
                ))
            }
        }
        Ok(vec![event("state", json!({ "crawler": self.crawler }))])
    }

    /// One move of a running crawler (nothing when paused): the move, the new state, the
    /// tables, and a safety stop when the crawler came too close to or too far from the wall
    /// (training then pauses, as on the page).
    pub fn tick(&mut self) -> Result<Vec<Event>> {
        let c = &mut self.crawler;
        if !c.running {
            return Ok(Vec::new());
        }
        let s = c.learner.state();
        let (a, mode) = c.learner.choose(&mut self.rng);
        let (r, stop) = c.world.step(a, &mut self.rng)?;
        c.learner.update(s, a, r)?;
        c.last_move = Some((s, a, r));
        let mut out = vec![
            event("action_update", json!({ "from": s, "to": a, "mode": mode })),
            event(
                "state_update",
                json!({ "pose": a, "wall": c.world.wall, "reward": r }),
            ),
            event(
                "tables_update",
                json!({ "q": c.learner.table(), "rewards": c.learner.rewards(), "known": c.learner.known(), "of": POSES * (POSES - 1) }),
            ),
        ];
        if let Some(stop) = stop {
            c.running = false;
            c.world.reposition();
            out.push(event(
                match stop {
                    Safety::TooClose => "too_close",
                    Safety::TooFar => "too_far",
                },
                json!({ "wall": c.world.wall }),
            ));
        }
        Ok(out)
    }
}
