//! Epoch schedules.

use depin_core::{Epoch, EpochSchedule, Error, Timestamp};

#[test]
fn daily_epochs_align_to_utc_midnight() {
    let s = EpochSchedule::daily_utc();
    let midnight = Timestamp(1_704_067_200_000); // 2024-01-01T00:00:00Z
    assert_eq!(s.epoch_of(midnight).unwrap(), Epoch(19_723));
    assert_eq!(
        s.epoch_of(Timestamp(midnight.0 - 1)).unwrap(),
        Epoch(19_722)
    );
    assert_eq!(s.end_of(Epoch(19_722)).unwrap(), midnight);
}

#[test]
fn custom_schedule_and_errors() {
    let s = EpochSchedule::new(Timestamp(1000), 10).unwrap();
    assert_eq!(s.epoch_of(Timestamp(1000)).unwrap(), Epoch(0));
    assert_eq!(s.epoch_of(Timestamp(1019)).unwrap(), Epoch(1));
    assert_eq!(
        s.epoch_of(Timestamp(999)).unwrap_err(),
        Error::Time("timestamp before genesis")
    );
    assert!(EpochSchedule::new(Timestamp(0), 0).is_err());
    assert!(s.start_of(Epoch(u64::MAX)).is_err());
    assert!(Epoch(u64::MAX).next().is_err());
    assert!(Timestamp::from_secs(u64::MAX).is_err());
}

/// A schedule read from untrusted bytes is validated like one built with `new`: a zero epoch
/// length is refused at decoding instead of dividing by zero in `epoch_of`.
#[cfg(feature = "serde")]
#[test]
fn deserialized_schedule_is_validated() {
    let s = EpochSchedule::new(Timestamp(1000), 10).unwrap();
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(json, r#"{"genesis":1000,"length_ms":10}"#);
    assert_eq!(serde_json::from_str::<EpochSchedule>(&json).unwrap(), s);
    let err = serde_json::from_str::<EpochSchedule>(r#"{"genesis":1000,"length_ms":0}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("epoch length must be non-zero"), "{err}");
}
