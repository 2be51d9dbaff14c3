//! Writes the large generated model (`kairos::synth::large_model()`) as JSON to stdout, for the
//! Node benchmarks: `cargo run -q -p kairos-wasm --example large_model > target/large-model.json`.

fn main() {
    println!("{}", kairos::synth::large_model());
}
