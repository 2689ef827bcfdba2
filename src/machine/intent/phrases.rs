//! The opt-out phrases of the lexicon, French then English, in folded form (lower case, no
//! accents, apostrophes as word breaks: "m'écrire" is `m ecrire`). Longer, more specific
//! phrases first: the first phrase that matches is the one reported.

/// Phrases that, anywhere in a message, ask not to be contacted any more.
#[rustfmt::skip]
pub const PHRASES: &[&str] = &[
    // French: unsubscribe
    "desabonnez moi", "desabonne moi", "desabonnez nous", "me desabonner", "nous desabonner", "desabonnement",
    "desinscrivez moi", "desinscris moi", "me desinscrire", "desinscription", "veux me desinscrire",
    // French: do not contact me any more
    "ne plus me contacter", "ne me contactez plus", "ne me contacte plus", "ne me contactez jamais",
    "ne plus etre contacte", "ne plus etre contactee", "plus etre contacte", "plus etre contactee",
    "ne plus me recontacter", "ne me recontactez plus", "ne plus me solliciter", "ne me sollicitez plus",
    "ne m ecrivez plus", "ne m ecris plus", "ne m envoyez plus", "ne m appelez plus", "ne me relancez plus",
    "ne plus me relancer", "ne plus etre relance", "ne plus recevoir", "ne veux plus recevoir",
    "ne me derangez plus", "ne plus me deranger", "ne plus m ecrire", "ne plus m envoyer",
    // French: stop doing it
    "arretez de me contacter", "arretez de m ecrire", "arretez de m envoyer", "arretez de m appeler",
    "arretez de me solliciter", "arretez de me relancer", "arretez de me harceler", "arretez les messages",
    "arretez les sms", "arretez vos messages", "arretez vos sms", "arretez les mails", "arretez tout",
    "arrete de m ecrire", "arrete de me contacter", "arrete de m envoyer", "arrete de m appeler",
    "cessez de me contacter", "cessez de m ecrire", "cessez de m envoyer", "cessez tout contact",
    "stop sms", "stop pub", "stop spam", "stop messages", "stop mail", "stop mails", "stop aux messages",
    "stop les messages", "stop les sms", "stop harcelement", "c est du harcelement",
    // French: take me off, erase my data, object
    "retirez moi de", "retirez mon numero", "retirez mon adresse", "retirer de votre liste",
    "retirer de vos listes", "enlevez moi de", "enlevez mon numero", "supprimez moi", "supprimez mon numero",
    "supprimez mon adresse", "supprimez mon email", "supprimez mon mail", "supprimez mes donnees",
    "supprimer mes donnees", "effacez mes donnees", "effacer mes donnees", "supprimez mes coordonnees",
    "supprimer mes coordonnees", "rayez moi", "droit a l oubli", "droit d opposition", "je m oppose",
    "opposition au traitement", "oubliez moi", "oubliez mon numero",
    "laissez moi tranquille", "laisse moi tranquille", "laissez nous tranquille", "fichez moi la paix",
    "foutez moi la paix", "fiche moi la paix", "lachez moi la grappe",
    "mauvais numero", "pas le bon numero", "erreur de numero", "trompez de numero", "faux numero",
    "plus de messages", "plus de sms", "plus de mails", "plus de relances",
    // English
    "unsubscribe", "opt me out", "opt out", "optout", "remove me", "take me off", "remove my number",
    "remove my email", "remove my details", "remove my data", "delete my data", "delete my number",
    "delete my details", "delete my info", "erase my data", "delete me", "forget me",
    "do not contact", "don t contact", "dont contact", "do not text", "don t text", "dont text",
    "do not message", "don t message", "do not email", "don t email", "do not call", "don t call",
    "never contact me", "not contact me again", "never text me", "stop texting", "stop messaging",
    "stop emailing", "stop contacting", "stop sending", "stop calling", "stop spamming", "stop bothering",
    "stop harassing", "no more messages", "no more texts", "no more emails", "leave me alone",
    "don t want to be contacted", "do not want to be contacted", "not to be contacted",
    "don t want any more", "lose my number", "wrong number", "wrong person",
];
