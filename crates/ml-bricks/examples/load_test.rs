//! A load test of the web app on loopback: the server in this process, client threads with
//! keep-alive connections, each its own session, sending a classroom's mix of API requests
//! (fruit readings and k changes, pitcher slider moves, state reloads) for a fixed time. It
//! stops by itself and prints requests per second, latency percentiles and errors.
//!
//! ```sh
//! cargo run -p ml-bricks --release --example load_test [-- SECONDS CLIENTS]
//! ```
//! (defaults: 10 s, 4 clients; at most 30 s).

use serde_json::json;
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(10)
        .min(30);
    let clients: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(4)
        .clamp(1, 64);
    let base = format!(
        "http://{}",
        ml_bricks::server::spawn_on_loopback().expect("server")
    );
    let end = Instant::now() + Duration::from_secs(secs);
    let workers: Vec<_> = (0..clients)
        .map(|w| {
            let base = base.clone();
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(5)))
                    .build()
                    .into();
                let mut r = agent.post(format!("{base}/api/session")).send("").expect("session");
                let id: serde_json::Value =
                    serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("json");
                let id = id["id"].as_str().expect("id").to_string();
                let (mut lat, mut errors) = (Vec::new(), 0usize);
                let mut i = 0usize;
                while Instant::now() < end {
                    let (path, body) = match i % 5 {
                        0 => ("fruit", json!({"action": "press_right"})),
                        1 => ("fruit", json!({"action": "press_left"})),
                        2 => ("fruit", json!({"action": "change_k", "payload": {"k": 1 + (i + w) % 17}})),
                        3 => ("pitcher", json!({"action": "set_line", "payload": {"m": 1.0, "b": (i % 40) as f64}})),
                        _ => ("", json!(null)),
                    };
                    // Keep the fruit detector's data bounded (the hub keeps at most 500 points).
                    if i % 400 == 399 {
                        let _ = agent
                            .post(format!("{base}/api/session/{id}/fruit"))
                            .send(json!({"action": "delete_datapoint", "payload": {"index": 0}}).to_string());
                    }
                    let t = Instant::now();
                    let status = if path.is_empty() {
                        agent.get(format!("{base}/api/session/{id}")).call().map(|mut r| {
                            let _ = r.body_mut().read_to_string();
                            r.status().as_u16()
                        })
                    } else {
                        agent
                            .post(format!("{base}/api/session/{id}/{path}"))
                            .header("content-type", "application/json")
                            .send(body.to_string())
                            .map(|mut r| {
                                let _ = r.body_mut().read_to_string();
                                r.status().as_u16()
                            })
                    };
                    lat.push(t.elapsed());
                    if !matches!(status, Ok(200)) {
                        // A full fruit detector answers 400 by design; anything else is an error.
                        if !(matches!(status, Ok(400)) && i % 5 < 2) {
                            errors += 1;
                        }
                    }
                    i += 1;
                }
                (lat, errors)
            })
        })
        .collect();
    let (mut lat, mut errors) = (Vec::new(), 0);
    for w in workers {
        let (l, e) = w.join().expect("worker");
        lat.extend(l);
        errors += e;
    }
    lat.sort();
    let pct = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    println!(
        "{} requests in {secs} s from {clients} clients: {:.0} requests/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {errors} errors; {} cores",
        lat.len(),
        lat.len() as f64 / secs as f64,
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        lat.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
}
