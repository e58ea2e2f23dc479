//! The parallel path gives exactly the sequential verdicts.

use depin_attest::Input;

use crate::common::*;

#[test]
fn parallel_and_sequential_verdicts_are_identical() {
    let net = Net::new(16);
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for round in 0..6u32 {
        for (i, k) in net.keys.iter().enumerate() {
            let mut f = frame(k, round + 1);
            if (round as usize * 16 + i).is_multiple_of(13) {
                let n = f.len();
                f[n - 5] ^= 1; // bad signature
            }
            if (round as usize * 16 + i).is_multiple_of(29) {
                f.push(0); // trailing byte
            }
            inputs.push(f);
        }
    }
    // replays of a few earlier frames
    inputs.extend(inputs[..20].to_vec());
    let input_refs: Vec<Input<'_>> = inputs.iter().map(|b| Input::Frame(b)).collect();
    let mut seq_net = Net::new(16);
    seq_net.config.parallel_threshold = usize::MAX;
    let mut par_net = Net::new(16);
    par_net.config.parallel_threshold = 1;
    let mut vs = seq_net.verifier();
    let mut vp = par_net.verifier();
    let a = vs.verify_batch(&input_refs, NOW);
    let b = vp.verify_batch(&input_refs, NOW);
    assert_eq!(a, b);
    assert!(a.iter().filter(|v| v.is_ok()).count() > 60);
    assert!(a.iter().any(|v| v.is_err()));
    let epoch = net.config.schedule.epoch_of(NOW).unwrap();
    assert_eq!(vs.report(epoch), vp.report(epoch));
}
