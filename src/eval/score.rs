//! Scoring: compares each case's expectation with the provider's answer, field by field and for
//! the intent, and turns the counts into precision, recall, F1 and accuracy.
//!
//! Per field, a case counts as: a true positive when the expected value was given; a false
//! negative when a value was expected and not given (or another was); a false positive when a
//! value was given that was not expected (or not that one). A value given again unchanged for a
//! field already known is no answer at all (the machine would store nothing new).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::eval::corpus::{Case, Thresholds};

/// Counts for one field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub true_positive: u32,
    pub false_positive: u32,
    pub false_negative: u32,
}

impl Tally {
    /// 1 when nothing was given (nothing wrong was said).
    pub fn precision(&self) -> f64 {
        ratio(self.true_positive, self.true_positive + self.false_positive)
    }

    /// 1 when nothing was expected.
    pub fn recall(&self) -> f64 {
        ratio(self.true_positive, self.true_positive + self.false_negative)
    }

    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
    }

    /// Cases where the field was expected.
    pub fn support(&self) -> u32 {
        self.true_positive + self.false_negative
    }
}

fn ratio(hits: u32, total: u32) -> f64 {
    if total == 0 { 1.0 } else { f64::from(hits) / f64::from(total) }
}

/// One disagreement between a case and the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Miss {
    pub line: u64,
    /// The field name, or `intent`.
    pub what: String,
    pub expected: String,
    pub got: String,
}

/// The scores of a set of cases.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Score {
    pub fields: BTreeMap<String, Tally>,
    pub cases: u32,
    pub intents_right: u32,
    pub misses: Vec<Miss>,
}

impl Score {
    /// Every extracted field starts with an empty tally, so a field no case mentions still shows.
    pub fn new(fields: &[String]) -> Score {
        Score { fields: fields.iter().map(|f| (f.clone(), Tally::default())).collect(), ..Score::default() }
    }

    pub fn intent_accuracy(&self) -> f64 {
        ratio(self.intents_right, self.cases)
    }

    /// Scores one case against the fields and intent the provider gave.
    pub fn add(&mut self, case: &Case, fields: &BTreeMap<String, Value>, intent: Option<&str>) {
        self.cases += 1;
        for (name, tally) in self.fields.iter_mut() {
            let expected = case.expect.get(name).filter(|v| !v.is_null());
            let given = fields.get(name).filter(|v| !v.is_null()).filter(|v| case.known.get(name) != Some(*v));
            match (expected, given) {
                (Some(e), Some(g)) if same(e, g) => tally.true_positive += 1,
                (None, None) => {}
                (e, g) => {
                    if e.is_some() {
                        tally.false_negative += 1;
                    }
                    if g.is_some() {
                        tally.false_positive += 1;
                    }
                    self.misses.push(Miss { line: case.line, what: name.clone(), expected: shown(e), got: shown(g) });
                }
            }
        }
        if case.intent.as_deref() == intent {
            self.intents_right += 1;
        } else {
            let name = |i: Option<&str>| i.unwrap_or("none").to_string();
            let miss = Miss {
                line: case.line,
                what: "intent".into(),
                expected: name(case.intent.as_deref()),
                got: name(intent),
            };
            self.misses.push(miss);
        }
    }

    /// What falls below `thresholds`: `(what, score, minimum)`.
    pub fn failures(&self, thresholds: &Thresholds) -> Vec<(String, f64, f64)> {
        let mut out = Vec::new();
        for (name, tally) in &self.fields {
            if let Some(min) = thresholds.for_field(name).filter(|min| tally.f1() < *min) {
                out.push((format!("{name} F1"), tally.f1(), min));
            }
        }
        if let Some(min) = thresholds.intent.filter(|min| self.intent_accuracy() < *min) {
            out.push(("intent accuracy".into(), self.intent_accuracy(), min));
        }
        out
    }
}

/// Numbers compare by value (`1500` and `1500.0` are the same answer).
fn same(expected: &Value, given: &Value) -> bool {
    match (expected.as_f64(), given.as_f64()) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-9,
        _ => expected == given,
    }
}

fn shown(value: Option<&Value>) -> String {
    value.map_or_else(|| "nothing".to_string(), Value::to_string)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn case(expect: &[(&str, Value)], known: &[(&str, Value)], intent: Option<&str>) -> Case {
        let map = |pairs: &[(&str, Value)]| pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        Case {
            line: 7,
            asked: None,
            known: map(known),
            reply: String::new(),
            expect: map(expect),
            intent: intent.map(str::to_string),
        }
    }

    #[test]
    fn counts_hits_misses_and_wrong_values() {
        let mut score = Score::new(&["budget".into(), "timeline".into()]);
        let given = |pairs: &[(&str, Value)]| pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        score.add(
            &case(&[("budget", json!(1500))], &[], Some("positive")),
            &given(&[("budget", json!(1500.0))]),
            Some("positive"),
        );
        score.add(&case(&[("budget", json!(2000))], &[], None), &given(&[("budget", json!(200))]), None);
        score.add(&case(&[], &[], None), &given(&[("timeline", json!("now"))]), Some("question"));
        score.add(&case(&[("timeline", json!("later"))], &[], None), &given(&[]), None);
        score.add(&case(&[], &[("budget", json!(900))], None), &given(&[("budget", json!(900))]), None);
        let budget = score.fields["budget"];
        assert_eq!((budget.true_positive, budget.false_positive, budget.false_negative), (1, 1, 1));
        assert_eq!((budget.precision(), budget.recall(), budget.f1()), (0.5, 0.5, 0.5));
        let timeline = score.fields["timeline"];
        assert_eq!((timeline.precision(), timeline.recall(), timeline.f1()), (0.0, 0.0, 0.0));
        assert_eq!(score.intent_accuracy(), 0.8);
        let shown: Vec<String> =
            score.misses.iter().map(|m| format!("{}: {} {} {}", m.line, m.what, m.expected, m.got)).collect();
        assert_eq!(
            shown,
            [
                "7: budget 2000 200",
                "7: timeline nothing \"now\"",
                "7: intent none question",
                "7: timeline \"later\" nothing"
            ]
        );
        let thresholds = Thresholds { f1: Some(0.9), intent: Some(0.8), fields: [("timeline".into(), 0.0)].into() };
        let failures: Vec<String> = score.failures(&thresholds).into_iter().map(|(w, _, _)| w).collect();
        assert_eq!(failures, ["budget F1"]);
    }

    #[test]
    fn nothing_expected_and_nothing_given_is_perfect() {
        let tally = Tally::default();
        assert_eq!((tally.precision(), tally.recall(), tally.f1(), tally.support()), (1.0, 1.0, 1.0, 0));
    }
}
