//! The lexicon against real phrasings: what must opt out, and near-misses that must not.

use super::*;

/// How people actually ask to stop, by SMS, email and Messenger (French and English).
const OPT_OUTS: &[&str] = &[
    "STOP",
    "Stop.",
    "stop merci",
    "STOP svp",
    "Arrêt",
    "ARRET",
    "arrêtez",
    "Stop stop stop",
    "unsubscribe",
    "Unsubscribe please",
    "Désabonnez-moi",
    "desabonnez moi svp",
    "Je veux me désabonner",
    "Comment faire pour me désinscrire ?",
    "désinscrivez-moi de cette liste",
    "Merci de ne plus me contacter",
    "merci de ne plus me contacter.",
    "Ne me contactez plus.",
    "ne me contacte plus stp",
    "Je ne souhaite plus être contacté",
    "je ne souhaite plus etre contactee",
    "Retirez-moi de votre liste",
    "retirez moi de vos fichiers svp",
    "Supprimez mes données",
    "Supprimez mes données personnelles merci",
    "Effacez mes données, droit à l'oubli",
    "Arrêtez de m'écrire",
    "arretez de m ecrire svp",
    "Arrêtez de m'envoyer des SMS",
    "Cessez de me contacter s'il vous plaît",
    "Ne m'écrivez plus jamais",
    "Ne m’appelez plus, merci",
    "Je ne veux plus recevoir vos messages",
    "je ne veux plus recevoir de sms",
    "Laissez-moi tranquille !",
    "Fichez-moi la paix",
    "C'est du harcèlement, arrêtez",
    "Pas intéressé, ne me relancez plus",
    "Non merci et plus de messages svp",
    "STOP SMS",
    "Stop pub",
    "Vous vous trompez de numéro",
    "Mauvais numéro",
    "Je m'oppose au traitement de mes données",
    "Supprimez mon numéro de votre base",
    "Bonjour, je ne souhaite plus être contactée par votre société. Cordialement",
    "please unsubscribe me",
    "Please remove me from your list",
    "Remove my number",
    "Take me off your mailing list",
    "Do not contact me again",
    "Don't text me",
    "dont text me anymore",
    "Stop texting me",
    "Stop messaging me please",
    "Leave me alone!",
    "No more messages please",
    "Delete my data",
    "I want to opt out",
    "opt me out",
    "Wrong number",
    "Not interested. Stop contacting me.",
    "I do not want to be contacted",
    "Never contact me again",
    "How do I unsubscribe?",
    "Not interested. Stop.",
    "Pas intéressé, stop",
];

/// Messages that name stopping, removing or calling, but do not object to being contacted.
const NEAR_MISSES: &[&str] = &[
    "stop, c'est trop cher ?",
    "ne m'appelez pas avant 18h",
    "Arrêtez de m'appeler avant 18h svp",
    "please stop calling me at work, call my mobile",
    "Ne m'écrivez plus avant 9h le matin",
    "can you stop by tomorrow?",
    "Stop, attendez, j'ai une question",
    "Stop the press, we got budget!",
    "Je ne veux pas me désabonner",
    "I don't want to unsubscribe, just tell me the price",
    "Ne me contactez pas avant lundi",
    "Pas avant l'été",
    "Je ne suis pas intéressé pour l'instant",
    "Non merci, pas maintenant",
    "C'est qui ?",
    "Remove the second option from the quote",
    "Unsubscribed from the newsletter by mistake, can you add me back?",
    "The end of the month works",
    "Cancel my meeting tomorrow and call me friday",
    "Quit my job last year, now freelance",
    "J'ai arrêté mon abonnement chez le concurrent",
    "Plus de détails svp",
    "Don't stop, I'm interested",
    "Is there a way to opt out later if it doesn't fit?",
    "Stop ou encore ? Ça dépend du prix",
    "Vous pouvez m'appeler après 18h ?",
    "We stopped using our CRM",
    "Merci de me contacter par email plutôt",
    "ne me contactez pas par SMS mais par email",
    "Supprimez mon ancien numéro, voici le nouveau",
    "help",
    "Start",
    "oui intéressé, budget 2k€ par mois",
    "",
];

#[test]
fn every_real_opt_out_phrasing_is_recognised() {
    let missed: Vec<&str> = OPT_OUTS.iter().copied().filter(|t| !is_opt_out(t)).collect();
    assert!(OPT_OUTS.len() >= 60, "the table holds {} phrasings", OPT_OUTS.len());
    assert!(missed.is_empty(), "missed opt-outs: {missed:#?}");
}

#[test]
fn near_misses_are_not_opt_outs() {
    let wrong: Vec<(&str, &str)> = NEAR_MISSES.iter().filter_map(|t| opt_out_phrase(t).map(|p| (*t, p))).collect();
    assert!(NEAR_MISSES.len() >= 30, "the table holds {} near-misses", NEAR_MISSES.len());
    assert!(wrong.is_empty(), "near-misses taken for opt-outs (text, phrase): {wrong:#?}");
}

#[test]
fn the_matched_phrase_explains_the_decision() {
    assert_eq!(opt_out_phrase("STOP!!!"), Some("stop"));
    assert_eq!(opt_out_phrase("Désabonnez-moi svp"), Some("desabonnez moi"));
    assert_eq!(opt_out_phrase("Merci de NE PLUS me contacter"), Some("ne plus me contacter"));
}

#[test]
fn keywords_alone_any_case() {
    assert!(is_stop_word("STOP"));
    assert!(is_stop_word(" Arrêt. "));
    assert!(is_stop_word("stop merci"));
    assert!(!is_stop_word("please stop calling me at work, call my mobile"));
    assert!(is_start_word("Start"));
    assert!(!is_start_word("start the project in March"));
    assert!(is_help_word("AIDE"));
}

#[test]
fn every_phrase_is_folded_and_matches_itself() {
    for phrase in PHRASES {
        assert_eq!(fold(phrase), *phrase, "phrases are written folded");
        assert_eq!(words(phrase).join(" "), *phrase, "phrases are single-spaced words: `{phrase}`");
        assert!(is_opt_out(phrase), "`{phrase}` does not match itself");
    }
}
