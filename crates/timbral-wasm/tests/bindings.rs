//! The bindings as JS sees them, under Node (`cargo test -p timbral-wasm
//! --target wasm32-unknown-unknown`) and, with `WASM_BINDGEN_USE_BROWSER=1`
//! and chromedriver, in headless Chromium: results are plain JS objects
//! with camelCase fields, and every bad input is a JS `Error` with a message.
#![cfg(target_arch = "wasm32")]

use js_sys::{Array, Reflect};
use timbral_wasm::Recommender;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

fn bundle() -> Vec<u8> {
    timbral_core::fixture::two_styles()
}

fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &key.into()).unwrap()
}

fn items(v: &JsValue) -> Vec<String> {
    v.dyn_ref::<Array>()
        .expect("an array")
        .iter()
        .map(|x| get(&x, "item").as_string().unwrap())
        .collect()
}

fn message(e: JsValue) -> String {
    e.dyn_into::<js_sys::Error>()
        .expect("a JS Error")
        .message()
        .into()
}

fn opts(json: &str) -> JsValue {
    js_sys::JSON::parse(json).unwrap()
}

#[wasm_bindgen_test]
fn recommend_explains_and_feedback_changes_the_list() {
    let mut r = Recommender::from_bytes(&bundle()).unwrap();
    let info = r.info().unwrap();
    assert_eq!(get(&info, "items").as_f64(), Some(6.0));
    assert_eq!(get(&info, "hasContent").as_bool(), Some(true));

    let recs = r
        .recommend(opts(r#"{"history":[{"item":"a0","plays":5}],"k":3}"#))
        .unwrap();
    let ids = items(&recs);
    assert_eq!(ids.len(), 3);
    assert!(!ids.contains(&"a0".to_string()));
    assert!(
        ["a1", "a2"].contains(&ids[0].as_str()),
        "the same style comes first: {ids:?}"
    );
    let first = Array::from(&recs).get(0);
    let why = get(&first, "explanation");
    assert!(get(&why, "cf").as_f64().is_some());
    let because = Array::from(&get(&why, "because"));
    assert_eq!(
        get(&because.get(0), "item").as_string().as_deref(),
        Some("a0")
    );
    assert!(Array::from(&get(&why, "sharedTags")).length() >= 1);

    // The profile: like two folk artists, then the list leaves them out.
    r.add_plays("a0", 5.0).unwrap();
    r.feedback("a1", "like").unwrap();
    let before = items(&r.recommend(JsValue::UNDEFINED).unwrap());
    assert!(!before.contains(&"a1".into()));
    r.feedback(&before[0], "dislike").unwrap();
    let after = items(&r.recommend(JsValue::UNDEFINED).unwrap());
    assert!(!after.contains(&before[0]), "{before:?} → {after:?}");

    let saved = r.save_profile();
    let mut other = Recommender::from_bytes(&bundle()).unwrap();
    other.load_profile(&saved).unwrap();
    assert_eq!(items(&other.recommend(JsValue::UNDEFINED).unwrap()), after);
    let taste = Array::from(&r.taste_summary(Some(3)).unwrap());
    assert_eq!(
        get(&taste.get(0), "label").as_string().as_deref(),
        Some("folk")
    );
}

#[wasm_bindgen_test]
fn similar_cold_start_autofill_and_text_search() {
    let r = Recommender::from_bytes(&bundle()).unwrap();
    let sim = items(&r.similar("a3", 2).unwrap());
    assert!(
        sim.iter().all(|s| ["a4", "a5"].contains(&s.as_str())),
        "{sim:?}"
    );
    let picks = items(
        &r.cold_start(opts(r#"{"genres":["metal","folk"],"k":4}"#))
            .unwrap(),
    );
    assert_eq!(picks.len(), 4);
    assert!(
        picks.iter().any(|p| p < &"a3".to_string()) && picks.iter().any(|p| p >= &"a3".to_string())
    );
    let fill = items(&r.autofill(vec!["a0".into()], 2).unwrap());
    assert!(!fill.contains(&"a0".into()) && fill.len() == 2);
    let found = items(&r.search_text("metal", JsValue::UNDEFINED).unwrap());
    assert_eq!(found.len(), 3);
    assert_eq!(r.top_genres(2).len(), 2);
}

#[wasm_bindgen_test]
fn bad_input_is_a_js_error_that_says_what() {
    let mut r = Recommender::from_bytes(&bundle()).unwrap();
    let e = |res: Result<JsValue, JsValue>| message(res.unwrap_err());
    assert!(e(r.recommend(opts(r#"{"history":[{"item":"zz"}]}"#))).contains("unknown item `zz`"));
    assert!(e(r.recommend(opts(r#"{"k":500}"#))).contains("k must be between 1 and 200"));
    assert!(e(r.recommend(opts(r#"{"hist":[]}"#))).contains("unknown field `hist`"));
    assert!(
        e(r.recommend(opts(r#"{"history":[{"item":"a0","plays":-1}]}"#))).contains("finite number")
    );
    assert!(e(r.similar("a0", 0)).contains("k must be"));
    assert!(e(r.search_text("   ", JsValue::UNDEFINED)).contains("empty"));
    assert!(e(r.search_vector(&[0.5; 7], JsValue::UNDEFINED)).contains("dimensions"));
    assert!(
        e(r.search_text("rock", opts(r#"{"mood":"sleepy"}"#))).contains("unknown mood `sleepy`")
    );
    assert!(e(r.search_text("rock", opts(r#"{"energy":"1..0"}"#))).contains("energy:"));
    // The fixture bundle has no item facts to filter by, and says so.
    assert!(e(r.search_text("rock", opts(r#"{"year":"1980..1989"}"#))).contains("no item facts"));
    assert!(message(r.feedback("a0", "love").unwrap_err()).contains("feedback must be"));
    assert!(message(r.load_profile(b"nope").unwrap_err()).contains("not a saved Timbral profile"));
    assert!(message(r.check_encoder("x", "y").unwrap_err()).contains("does not match"));
    let mut b = bundle();
    let n = b.len();
    b[n - 3] ^= 1;
    assert!(message(Recommender::from_bytes(&b).err().unwrap()).contains("checksum"));
    assert!(message(Recommender::from_bytes(b"TIMBRAL").err().unwrap()).contains("truncated"));
}

/// The wasm SIMD scoring kernel equals the portable loop exactly, for every
/// length (whole 16-lane blocks and tails) and the extreme values.
#[wasm_bindgen_test]
fn simd_dot_equals_the_portable_loop() {
    use timbral_core::linalg::{dot_i8_i16, dot_i8_i16_portable};
    let mut seed = 12345u32;
    let mut next = || {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        seed >> 8
    };
    for n in (0..70).chain([384, 448]) {
        let q: Vec<i8> = (0..n).map(|_| next() as i8).collect();
        let x: Vec<i16> = (0..n).map(|_| next() as i16).collect();
        assert_eq!(
            dot_i8_i16(&q, &x),
            dot_i8_i16_portable(&q, &x),
            "length {n}"
        );
    }
    let q = vec![-128i8; 448];
    let x = vec![-32768i16; 448];
    assert_eq!(dot_i8_i16(&q, &x), dot_i8_i16_portable(&q, &x));
}

/// The session protocol in wasm: a taste's model trained on the device,
/// the CLI's reply shapes, and a bad command answered, not thrown.
#[wasm_bindgen_test]
fn session_trains_a_taste_model_on_the_device() {
    let model = timbral_core::fixture::many_styles();
    let mut r = Recommender::from_bytes(&model.to_bytes()).unwrap();
    let first = r.session(opts(r#"{"op":"recommend","k":4}"#)).unwrap();
    assert_eq!(
        get(&first, "stage").as_string().as_deref(),
        Some("cold_start")
    );
    // Even metal songs liked, odd ones disliked: enough for a model.
    for i in 0..10 {
        r.feedback(&format!("s{}", 2 * i), "like").unwrap();
        r.feedback(&format!("s{}", 2 * i + 1), "dislike").unwrap();
    }
    let recs = r.session("{\"op\":\"recommend\",\"k\":4}".into()).unwrap();
    assert_eq!(
        get(&recs, "stage").as_string().as_deref(),
        Some("model_based")
    );
    let first = Array::from(&get(&recs, "items")).get(0);
    assert_eq!(get(&first, "taste").as_f64(), Some(0.0));
    let profile = r.session(opts(r#"{"op":"profile"}"#)).unwrap();
    let taste = Array::from(&get(&profile, "tastes")).get(0);
    let auc = get(&get(&taste, "model"), "auc").as_f64().unwrap();
    assert!((0.0..=1.0).contains(&auc), "{auc}");
    let bad = r.session(opts(r#"{"op":"recommend","k":0}"#)).unwrap();
    assert_eq!(get(&bad, "ok").as_bool(), Some(false));
    assert!(get(&bad, "error")
        .as_string()
        .unwrap()
        .contains("k must be"));
    // Saved and restored through the protocol.
    let saved = r.session(opts(r#"{"op":"save"}"#)).unwrap();
    let b64 = get(&saved, "profile").as_string().unwrap();
    let mut other = Recommender::from_bytes(&model.to_bytes()).unwrap();
    let line = format!("{{\"op\":\"load\",\"profile\":\"{b64}\"}}");
    let ok = other.session(line.into()).unwrap();
    assert_eq!(
        get(&ok, "stage").as_string().as_deref(),
        Some("model_based")
    );
}
