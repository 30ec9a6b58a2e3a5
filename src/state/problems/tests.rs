//! The Problems list through AppState's public door: findings in, keys in, state and
//! effects out. Findings come from the doctor over a synthetic snapshot.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::redis::actions::ReadOnly;
use crate::redis::doctor::GroupPending;
use crate::redis::streams::fixtures::{self, pending_row as row};
use crate::redis::streams::{ConsumerInfo, ReportedLag};
use crate::redis::subscriber::Subscriptions;
use crate::state::pending::PendingEffect;
use crate::state::streams::Level;
use crate::state::{AppState, Config, Effect, Event, Focus, Tab};

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
}

/// A consumer that last read `inactive_ms` ago (Redis 7.2+ reports it as `inactive`).
fn consumer(name: &str, pending: u64, inactive_ms: i64) -> ConsumerInfo {
    fixtures::consumer(name, pending, inactive_ms as u64, Some(inactive_ms))
}

/// `jobs` with a consumerless group with lag (`orphans`) and a group whose consumer
/// `stuck` holds entries (`workers`).
fn snapshot() -> StreamsSnapshot {
    let workers = fixtures::group(
        "workers",
        vec![consumer("stuck", 3, 120_000), consumer("live", 1, 500)],
        ReportedLag::Known(0),
    );
    let idle = fixtures::group("orphans", Vec::new(), ReportedLag::Known(4));
    fixtures::snapshot(vec![fixtures::stream("jobs", vec![idle, workers])], now())
}

fn id(ms: u64) -> StreamId {
    StreamId { ms, seq: 0 }
}

fn details() -> PendingDetails {
    let mut details = PendingDetails::new();
    details.insert(
        (Bytes::from_static(b"jobs"), Bytes::from_static(b"workers")),
        Ok(GroupPending {
            rows: vec![
                row(10, "stuck", 130_000, 7),
                row(11, "stuck", 125_000, 1),
                row(12, "stuck", 121_000, 1),
                row(13, "live", 100, 1),
            ],
            deleted: vec![id(11)],
            truncated: false,
        }),
    );
    details
}

fn config() -> DoctorConfig {
    DoctorConfig {
        poison_deliveries: 5,
        zombie_after_ms: 60_000,
    }
}

fn problems() -> Vec<Problem> {
    build(&snapshot(), &details(), &config(), "redtail")
}

fn state(read_only: bool) -> AppState {
    let config = Config {
        read_only: if read_only {
            ReadOnly::because("--read-only")
        } else {
            ReadOnly::off()
        },
        ..Config::default()
    };
    let mut s = AppState::new(config, Subscriptions::default(), now());
    s.update(
        Event::Problems(ProblemsUpdate {
            generation: 1,
            problems: problems(),
            notes: Vec::new(),
            taken_at: Some(now()),
        }),
        now(),
    );
    s
}

fn press(s: &mut AppState, code: KeyCode) -> Vec<Effect> {
    s.update(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)), now())
}

fn ch(s: &mut AppState, c: char) -> Vec<Effect> {
    press(s, KeyCode::Char(c))
}

/// Move the selection to the finding of `kind`.
fn select(s: &mut AppState, kind: Kind) {
    ch(s, 'g');
    for _ in 0..s.problems.rows.len() {
        if s.problems.selected_problem().map(|p| p.finding.kind) == Some(kind) {
            return;
        }
        ch(s, 'j');
    }
    panic!("no {kind:?} finding in the list");
}

#[test]
fn each_finding_gets_the_fix_that_repairs_exactly_its_ids() {
    let found = problems();
    let fix = |kind: Kind| {
        found
            .iter()
            .find(|p| p.finding.kind == kind)
            .and_then(|p| p.fix.clone())
    };
    assert_eq!(
        fix(Kind::Poison),
        Some(Fix::DeadLetter { ids: vec![id(10)] })
    );
    assert_eq!(fix(Kind::Dangling), Some(Fix::Ack { ids: vec![id(11)] }));
    // The zombie's entries that still exist, to the live consumer, guarded by the least
    // idle time among them.
    assert_eq!(
        fix(Kind::Zombie),
        Some(Fix::Claim {
            to: Bytes::from_static(b"live"),
            min_idle_ms: 121_000,
            ids: vec![id(10), id(12)],
        })
    );
    assert_eq!(fix(Kind::NoConsumers), None, "advice only");
    // The doctor's order: most severe first.
    assert_eq!(found.first().map(|p| p.finding.kind), Some(Kind::Poison));
}

#[test]
fn header_counts_problems_and_knows_the_worst() {
    let s = state(false);
    assert_eq!(s.problems.count(), 4);
    assert_eq!(s.problems.worst(), Some(Severity::Critical));
    let empty = AppState::new(Config::default(), Subscriptions::default(), now());
    assert_eq!((empty.problems.count(), empty.problems.worst()), (0, None));
}

#[test]
fn bang_opens_and_closes_and_esc_closes() {
    let mut s = state(false);
    ch(&mut s, '!');
    assert_eq!(s.focus(), Focus::Problems);
    ch(&mut s, '!');
    assert!(!s.problems.open);
    ch(&mut s, '!');
    press(&mut s, KeyCode::Esc);
    assert!(!s.problems.open);
    // Switching panes closes it too.
    ch(&mut s, '!');
    ch(&mut s, '3');
    assert!(!s.problems.open);
    assert_eq!(s.tab, Tab::Streams);
}

#[test]
fn the_filter_narrows_and_the_selection_follows_its_finding() {
    let mut s = state(false);
    ch(&mut s, '!');
    select(&mut s, Kind::Zombie);
    ch(&mut s, '/');
    for c in "zombie".chars() {
        ch(&mut s, c);
    }
    press(&mut s, KeyCode::Enter);
    assert_eq!(s.problems.rows.len(), 1);
    assert_eq!(s.focus(), Focus::Problems);
    // A new poll reorders nothing here, but the selection is by identity.
    s.update(
        Event::Problems(ProblemsUpdate {
            generation: 2,
            problems: problems(),
            notes: Vec::new(),
            taken_at: Some(now()),
        }),
        now(),
    );
    assert_eq!(
        s.problems.selected_problem().map(|p| p.finding.kind),
        Some(Kind::Zombie)
    );
    // An older update never replaces a newer one.
    s.update(Event::Problems(ProblemsUpdate::default()), now());
    assert_eq!(s.problems.problems.len(), problems().len());
}

#[test]
fn fix_previews_then_sends_exactly_the_previewed_ids() {
    let mut s = state(false);
    ch(&mut s, '!');
    select(&mut s, Kind::Zombie);
    assert!(
        ch(&mut s, 'x').is_empty(),
        "nothing is sent before confirming"
    );
    assert_eq!(s.focus(), Focus::ProblemsDialog);
    let dialog = s.problems.dialog.clone().expect("a preview");
    let text = dialog.lines.join("\n");
    assert!(
        text.contains("XCLAIM jobs workers live 121000 10-0 12-0"),
        "{text}"
    );
    let effects = ch(&mut s, 'y');
    let expected = PendingAction::Claim {
        consumer: Bytes::from_static(b"live"),
        min_idle_ms: 121_000,
        ids: vec![id(10), id(12)],
    };
    assert!(
        effects.iter().any(|e| matches!(
            e,
            Effect::Pending(PendingEffect::Act { target, action })
                if target.group.as_ref() == b"workers" && *action == expected
        )),
        "{effects:?}"
    );
    assert!(s.problems.dialog.is_none());
    // n cancels without sending.
    select(&mut s, Kind::Poison);
    ch(&mut s, 'x');
    assert!(ch(&mut s, 'n').is_empty());
    assert!(s.problems.dialog.is_none());
}

#[test]
fn read_only_refuses_the_fix_and_audits_the_refusal() {
    let mut s = state(true);
    ch(&mut s, '!');
    select(&mut s, Kind::Dangling);
    let effects = ch(&mut s, 'x');
    assert!(s.problems.dialog.is_none());
    assert_eq!(
        effects,
        vec![Effect::AuditRefusal {
            action: "ack".into(),
            stream: Some(Bytes::from_static(b"jobs")),
            group: Some(Bytes::from_static(b"workers")),
        }]
    );
    // Advice needs no write: it still opens.
    select(&mut s, Kind::NoConsumers);
    ch(&mut s, 'x');
    assert!(s.problems.dialog.as_ref().is_some_and(|d| d.send.is_none()));
    assert!(ch(&mut s, 'y').is_empty());
}

#[test]
fn enter_shows_the_evidence_in_its_pane() {
    let mut s = state(false);
    ch(&mut s, '!');
    select(&mut s, Kind::Zombie);
    press(&mut s, KeyCode::Enter);
    assert_eq!(s.tab, Tab::Pending);
    assert!(!s.problems.open);
    let target = s.pending.target.clone().expect("a target");
    assert_eq!(target.group.as_ref(), b"workers");
    assert_eq!(s.pending.consumer.as_deref(), Some(&b"stuck"[..]));
    assert_eq!(s.pending.selected, Some(id(10)));

    ch(&mut s, '!');
    select(&mut s, Kind::NoConsumers);
    press(&mut s, KeyCode::Enter);
    assert_eq!(s.tab, Tab::Streams);
    assert_eq!(s.streams.level, Level::Groups);
    assert_eq!(s.streams.groups_sel.name.as_deref(), Some(&b"orphans"[..]));
}

#[test]
fn a_click_selects_the_row_under_it() {
    let mut s = state(false);
    ch(&mut s, '!');
    let top = s.areas().body.y + keys::TOP_ROWS;
    s.update(
        Event::Mouse(crossterm::event::MouseEvent {
            kind: crossterm::event::MouseEventKind::Down(crossterm::event::MouseButton::Left),
            column: 10,
            row: top + 2,
            modifiers: KeyModifiers::NONE,
        }),
        now(),
    );
    assert_eq!(s.problems.selected, 2);
}
