//! The JSON API over HTTP on an ephemeral loopback port: sessions, every activity's actions,
//! the 4xx paths (malformed JSON, unknown actions and activities, out-of-range values, an
//! oversized body, an unknown session) leaving the state unchanged, and sessions that do not
//! see each other.

use serde_json::{json, Value};
use std::time::Duration;

/// The server on a free port, in a background runtime; its base URL.
fn start() -> String {
    let addr = ml_bricks::server::spawn_on_loopback().expect("server started");
    format!("http://{addr}")
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn post(a: &ureq::Agent, url: &str, body: &str) -> (u16, Value) {
    let mut r = a
        .post(url)
        .header("content-type", "application/json")
        .send(body)
        .expect("request");
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn get(a: &ureq::Agent, url: &str) -> (u16, Value) {
    let mut r = a.get(url).call().expect("request");
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn session(a: &ureq::Agent, base: &str) -> String {
    let (status, v) = post(a, &format!("{base}/api/session"), "");
    assert_eq!(status, 201, "{v}");
    v["id"].as_str().expect("id").to_string()
}

fn act(
    a: &ureq::Agent,
    base: &str,
    id: &str,
    activity: &str,
    action: &str,
    payload: Value,
) -> (u16, Value) {
    post(
        a,
        &format!("{base}/api/session/{id}/{activity}"),
        &json!({ "action": action, "payload": payload }).to_string(),
    )
}

#[test]
fn the_page_and_the_activities_work_over_http() {
    let base = start();
    let a = agent();
    let mut r = a.get(&format!("{base}/")).call().expect("page");
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.body_mut().read_to_string().unwrap().contains("<html"));
    for asset in ["app.js", "style.css"] {
        assert_eq!(
            a.get(&format!("{base}/{asset}"))
                .call()
                .unwrap()
                .status()
                .as_u16(),
            200
        );
    }
    let id = session(&a, &base);

    // Fruit: three apples, three bananas, then a prediction.
    for (fruit, n) in [("apple", 3), ("banana", 3)] {
        assert_eq!(
            act(
                &a,
                &base,
                &id,
                "fruit",
                "change_class",
                json!({"class": fruit})
            )
            .0,
            200
        );
        assert_eq!(
            act(
                &a,
                &base,
                &id,
                "fruit",
                "place_fruit",
                json!({"fruit": fruit})
            )
            .0,
            200
        );
        for _ in 0..n {
            act(&a, &base, &id, "fruit", "press_right", Value::Null);
            let (s, v) = act(&a, &base, &id, "fruit", "press_left", Value::Null);
            assert_eq!(s, 200, "{v}");
            assert_eq!(v["events"][0]["action"], "add_point");
        }
    }
    act(
        &a,
        &base,
        &id,
        "fruit",
        "change_mode",
        json!({"mode": "prediction"}),
    );
    act(
        &a,
        &base,
        &id,
        "fruit",
        "place_fruit",
        json!({"fruit": "banana"}),
    );
    act(&a, &base, &id, "fruit", "press_right", Value::Null);
    let (s, v) = act(&a, &base, &id, "fruit", "press_left", Value::Null);
    assert_eq!(s, 200);
    assert_eq!(v["events"][0]["action"], "inference_result");
    assert_eq!(v["events"][0]["payload"]["vote"], "banana");
    assert_eq!(
        v["events"][0]["payload"]["neighbours"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let (s, v) = act(&a, &base, &id, "fruit", "border", Value::Null);
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["events"][0]["payload"]["cells"].as_str().unwrap().len(),
        100 * 100
    );

    // Pitcher: two throws, a fit, a target.
    for power in [40, 80] {
        act(
            &a,
            &base,
            &id,
            "pitcher",
            "change_power",
            json!({"power": power}),
        );
        act(&a, &base, &id, "pitcher", "pitch_ball", Value::Null);
        let (s, v) = act(&a, &base, &id, "pitcher", "measure_distance", Value::Null);
        assert_eq!(s, 200, "{v}");
    }
    let (s, v) = act(&a, &base, &id, "pitcher", "fit", Value::Null);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["events"][0]["action"], "line");
    act(
        &a,
        &base,
        &id,
        "pitcher",
        "change_mode",
        json!({"mode": "prediction"}),
    );
    act(
        &a,
        &base,
        &id,
        "pitcher",
        "place_target",
        json!({"distance": 60}),
    );
    let (s, v) = act(&a, &base, &id, "pitcher", "measure_distance", Value::Null);
    assert_eq!(s, 200, "{v}");
    let power = v["events"][0]["payload"]["power"].as_f64().unwrap();
    assert!((20.0..=100.0).contains(&power));
    // The aimed power is set for the next throw.
    let (_, v) = act(&a, &base, &id, "pitcher", "pitch_ball", Value::Null);
    assert_eq!(v["events"][0]["payload"]["power"].as_f64(), Some(power));

    // Crawler: settings, then the state comes back on reload.
    assert_eq!(
        act(
            &a,
            &base,
            &id,
            "crawler",
            "epsilon_update",
            json!({"exploration": "low"})
        )
        .0,
        200
    );
    assert_eq!(
        act(
            &a,
            &base,
            &id,
            "crawler",
            "think_future_update",
            json!({"foresight": true})
        )
        .0,
        200
    );
    let (s, st) = get(&a, &format!("{base}/api/session/{id}"));
    assert_eq!(s, 200);
    assert_eq!(st["fruit"]["points"].as_array().unwrap().len(), 6);
    assert_eq!(st["pitcher"]["throws"].as_array().unwrap().len(), 2);
    assert_eq!(st["crawler"]["exploration"], "low");
}

#[test]
fn the_crawler_moves_while_running() {
    let base = start();
    let a = agent();
    let id = session(&a, &base);
    act(&a, &base, &id, "crawler", "continue", Value::Null);
    std::thread::sleep(Duration::from_millis(1500));
    act(&a, &base, &id, "crawler", "pause", Value::Null);
    let (_, st) = get(&a, &format!("{base}/api/session/{id}"));
    assert!(
        st["crawler"]["learner"]["moves"].as_u64().unwrap() >= 2,
        "{}",
        st["crawler"]
    );
}

#[test]
fn bad_requests_get_4xx_and_change_nothing() {
    let base = start();
    let a = agent();
    let id = session(&a, &base);
    let before = get(&a, &format!("{base}/api/session/{id}")).1;
    let url = format!("{base}/api/session/{id}/fruit");
    let cases: Vec<(String, String, u16)> = vec![
        (url.clone(), "{not json".into(), 400),
        (url.clone(), json!({"action": "fly"}).to_string(), 400),
        (
            url.clone(),
            json!({"action": "change_k", "payload": {"k": 0}}).to_string(),
            422,
        ),
        (
            url.clone(),
            json!({"action": "change_k", "payload": {"k": 18}}).to_string(),
            422,
        ),
        (
            url.clone(),
            json!({"action": "change_k", "payload": {"k": 2.5}}).to_string(),
            422,
        ),
        (
            url.clone(),
            json!({"action": "change_k", "payload": {"k": "3"}}).to_string(),
            400,
        ),
        (url.clone(), json!({"action": "change_k"}).to_string(), 400),
        (
            url.clone(),
            json!({"action": "change_class", "payload": {"class": "pear"}}).to_string(),
            400,
        ),
        (
            url.clone(),
            json!({"action": "delete_datapoint", "payload": {"index": 0}}).to_string(),
            422,
        ),
        (
            url.clone(),
            json!({"action": "delete_datapoint", "payload": {"index": -1}}).to_string(),
            400,
        ),
        (
            url.clone(),
            json!({"action": "change_mode", "payload": {"mode": "prediction"}, "extra": 1})
                .to_string(),
            400,
        ),
        (
            format!("{base}/api/session/{id}/pitcher"),
            json!({"action": "change_power", "payload": {"power": 150}}).to_string(),
            422,
        ),
        (
            format!("{base}/api/session/{id}/pitcher"),
            r#"{"action": "change_power", "payload": {"power": NaN}}"#.into(),
            400,
        ),
        (
            format!("{base}/api/session/{id}/pitcher"),
            json!({"action": "set_line", "payload": {"m": 4, "b": 0}}).to_string(),
            422,
        ),
        (
            format!("{base}/api/session/{id}/pitcher"),
            json!({"action": "fit"}).to_string(),
            422,
        ),
        (
            format!("{base}/api/session/{id}/pitcher"),
            json!({"action": "measure_distance"}).to_string(),
            400,
        ),
        (
            format!("{base}/api/session/{id}/crawler"),
            json!({"action": "epsilon_update", "payload": {"exploration": 0.7}}).to_string(),
            400,
        ),
        (
            format!("{base}/api/session/{id}/robot"),
            json!({"action": "code_start"}).to_string(),
            400,
        ),
        (
            format!("{base}/api/session/nosuch/fruit"),
            json!({"action": "code_start"}).to_string(),
            404,
        ),
        (
            url.clone(),
            format!(
                "{{\"action\": \"x\", \"payload\": \"{}\"}}",
                "a".repeat(20_000)
            ),
            413,
        ),
    ];
    for (u, body, want) in cases {
        let (status, v) = post(&a, &u, &body);
        assert_eq!(status, want, "{body:.80} → {v}");
        if status != 413 {
            assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
        }
    }
    // Prediction with no training points: an error, and the readings were not cached.
    act(
        &a,
        &base,
        &id,
        "fruit",
        "change_mode",
        json!({"mode": "prediction"}),
    );
    let (s, _) = act(&a, &base, &id, "fruit", "press_right", Value::Null);
    assert_eq!(s, 400);
    act(
        &a,
        &base,
        &id,
        "fruit",
        "change_mode",
        json!({"mode": "training"}),
    );
    let after = get(&a, &format!("{base}/api/session/{id}")).1;
    assert_eq!(before, after);
    assert_eq!(get(&a, &format!("{base}/api/session/nosuch")).0, 404);
}

#[test]
fn sessions_do_not_see_each_other() {
    let base = start();
    let a = agent();
    let (one, two) = (session(&a, &base), session(&a, &base));
    assert_ne!(one, two);
    act(&a, &base, &one, "fruit", "press_right", Value::Null);
    act(&a, &base, &one, "fruit", "press_left", Value::Null);
    act(
        &a,
        &base,
        &one,
        "pitcher",
        "change_power",
        json!({"power": 90}),
    );
    let s1 = get(&a, &format!("{base}/api/session/{one}")).1;
    let s2 = get(&a, &format!("{base}/api/session/{two}")).1;
    assert_eq!(s1["fruit"]["points"].as_array().unwrap().len(), 1);
    assert_eq!(s2["fruit"]["points"].as_array().unwrap().len(), 0);
    assert_eq!(s1["pitcher"]["power"], 90.0);
    assert_eq!(s2["pitcher"]["power"], 50.0);
}

#[test]
fn events_arrive_as_server_sent_events() {
    use std::io::{BufRead, BufReader};
    let base = start();
    let a = agent();
    let id = session(&a, &base);
    let events_url = format!("{base}/api/session/{id}/events");
    let reader = std::thread::spawn(move || {
        let a = agent();
        let mut r = a.get(&events_url).call().expect("events");
        assert_eq!(r.status().as_u16(), 200);
        let mut lines = BufReader::new(r.body_mut().as_reader());
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).expect("read") == 0 {
                panic!("the event stream ended");
            }
            if let Some(data) = line.strip_prefix("data:") {
                return serde_json::from_str::<Value>(data.trim()).expect("event json");
            }
        }
    });
    // Give the stream a moment to subscribe, then make the hub say something.
    std::thread::sleep(Duration::from_millis(300));
    act(&a, &base, &id, "fruit", "change_k", json!({"k": 5}));
    let e = reader.join().expect("reader");
    assert_eq!(e["action"], "state");
    assert_eq!(e["payload"]["fruit"]["k"], 5);
    assert_eq!(get(&a, &format!("{base}/api/session/nosuch/events")).0, 404);
}
