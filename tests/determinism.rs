//! Training is deterministic for a seed: byte-identical bundles for any
//! number of threads; a different seed gives a different model.

use timbral_core::{AlsParams, FactorModel};
use timbral_tests::with_threads;
use timbral_train::cf_tune::Search;
use timbral_train::synth::{self, SynthConfig};

#[test]
fn bundle_bytes_do_not_depend_on_the_thread_count() {
    let data = synth::generate(SynthConfig {
        users: 800,
        items: 1000,
        plays_per_user: 20,
        seed: 3,
    })
    .data;
    for model in FactorModel::ALL {
        let params = AlsParams {
            factors: 24,
            iterations: 6,
            ..AlsParams::defaults_for(model)
        };
        let one = with_threads(1, || {
            timbral_train::train_dataset(&data, params, false).to_bytes()
        });
        let two = with_threads(2, || {
            timbral_train::train_dataset(&data, params, false).to_bytes()
        });
        let three = with_threads(3, || {
            timbral_train::train_dataset(&data, params, false).to_bytes()
        });
        assert_eq!(one, two, "{model:?}");
        assert_eq!(one, three, "{model:?}");
        let other =
            timbral_train::train_dataset(&data, AlsParams { seed: 4, ..params }, false).to_bytes();
        assert_ne!(one, other, "{model:?}");
    }
}

#[test]
fn synthetic_generation_is_deterministic() {
    let cfg = SynthConfig {
        users: 100,
        items: 120,
        plays_per_user: 10,
        seed: 9,
    };
    let (a, b) = (synth::generate(cfg).data, synth::generate(cfg).data);
    assert_eq!(a.plays, b.plays);
    assert_eq!(a.item_names, b.item_names);
}

#[test]
fn the_tuned_cf_model_does_not_depend_on_the_thread_count() {
    // What `timbral train` does by default: choose ALS's λ and α, the
    // item-item model (RP3beta or EASE at this size) and the blend, then
    // fit them all on the plays.
    let data = synth::generate(SynthConfig {
        users: 500,
        items: 600,
        plays_per_user: 15,
        seed: 5,
    })
    .data;
    let params = AlsParams {
        factors: 16,
        iterations: 5,
        ..AlsParams::default()
    };
    let run = |threads| {
        with_threads(threads, || {
            let c = timbral_train::cf_tune::choose(&data.plays, params, 7, Search::default());
            let model = timbral_train::train_dataset(&data, c.als, false);
            (c.table.clone(), c.attach(model, &data.plays).to_bytes())
        })
    };
    let (one, two) = (run(1), run(2));
    assert_eq!(one.0, two.0);
    assert_eq!(one.1, two.1);
}
