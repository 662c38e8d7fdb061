"""Warning signs the way people really write them, and the sentences that only look like them.

The messages come from real wording (misspelt, slang, UK and US words, a sign buried in a long
story) and from the figures of speech that must not raise an alarm ("this pain is killing me",
"I fell asleep on the couch", "does losing weight help?"). Missing a sign is the worst failure; a
false alarm is the second worst.
"""

from __future__ import annotations

import pytest

from bot.brain import Brain

# (message, tier, the sign that must be among those found)
SIGNS = [
    # bladder: retention, not knowing when you need to go, leaking
    ("not aware I need the bathroom until it's almost too late", "emergency", "urine_retention"),
    ("can't really push when I go to the toilet", "emergency", "urine_retention"),
    ("i went to wee and nothing came out", "emergency", "urine_retention"),
    ("havent had a wee since yesterday morning", "emergency", "urine_retention"),
    ("I have to strain really hard to pee since my back went", "emergency", "urine_retention"),
    ("no urge to wee at all today", "emergency", "urine_retention"),
    ("can't tell if my bladder is full or not", "emergency", "urine_retention"),
    ("my wee just dribbles out and i cant stop it", "emergency", None),
    ("peed the bed last night, im 45", "emergency", "bladder_incontinence"),
    ("wet the bed for the first time in my life", "emergency", "bladder_incontinence"),
    ("i wet my pants standing up from the sofa", "emergency", "bladder_incontinence"),
    ("i keep leaking pee since the spasm started", "emergency", "bladder_incontinence"),
    ("today he wet himself and didn't even realise until mum pointed it out", "emergency", "bladder_incontinence"),
    ("didn't make it to the loo in time twice today and i never used to have that problem", "emergency", "bladder_incontinence"),
    # bowels
    ("i pooped myself in my sleep", "emergency", "bowel_incontinence"),
    ("had an accident, number two, didnt even feel it coming", "emergency", "bowel_incontinence"),
    ("cant feel when i need a poo anymore", "emergency", "bowel_incontinence"),
    ("lost control of my bowels on the way to work", "emergency", "bowel_incontinence"),
    ("cant go number 2 no matter how hard i push", "emergency", None),
    # saddle area
    ("very slight numbing around the buttox and grion", "emergency", "saddle_numbness"),
    ("it feels different when I use toilet paper to wipe", "emergency", "saddle_numbness"),
    ("numb bum since yesterday, back spasm too", "emergency", "saddle_numbness"),
    ("can't feel my privates properly", "emergency", "saddle_numbness"),
    ("my inner thighs and bum feel like cardboard", "emergency", "saddle_numbness"),
    ("toilet roll feels weird when I wipe, kind of numb", "emergency", "saddle_numbness"),
    ("pins and needles round my back passage", "emergency", "saddle_numbness"),
    ("my crotch is tingly and numb", "emergency", "saddle_numbness"),
    ("my bits have gone numb", "emergency", "saddle_numbness"),
    ("he says his bum feels 'funny, like after the dentist'", "emergency", "saddle_numbness"),
    # sexual function
    ("can't get it up since my back went", "emergency", "sexual_function"),
    ("cant keep an erection since the back injury", "emergency", "sexual_function"),
    # both legs
    ("both legs feel like jelly", "emergency", "both_legs_weak"),
    ("legs like jelly when i stand up", "emergency", "both_legs_weak"),
    ("my legs keep buckling under me", "emergency", "both_legs_weak"),
    ("numb from the waist down", "emergency", "both_legs_weak"),
    ("pain shooting down both legs and they feel weak", "emergency", "both_legs_weak"),
    ("both my legs have gone weak and wobbly since this morning", "emergency", "both_legs_weak"),
    # serious accidents
    ("came off my motorbike on the way home", "emergency", "major_trauma"),
    ("I was hit by a car crossing the road this morning", "emergency", "major_trauma"),
    ("fell off a ladder cleaning the gutters", "emergency", "major_trauma"),
    ("I was rear ended at the lights and now my back is spasming", "emergency", "major_trauma"),
    ("fell off my horse yesterday and landed on my back", "emergency", "major_trauma"),
    # a sentence that also says now is not history: "years ago" does not hide today's fall
    ("fell off a ladder this morning, I had a bad fall years ago too", "emergency", "major_trauma"),
    ("had a crash on the way home tonight, car's a write-off", "emergency", "major_trauma"),
    # chest
    ("pain between my shoulder blades going into my chest", "emergency", "chest_pain"),
    # one leg or foot
    ("my foot keeps dragging when I walk", "urgent", "one_leg_symptoms"),
    ("my left foot slaps the floor when i walk", "urgent", "one_leg_symptoms"),
    ("my toes keep catching on the carpet", "urgent", "one_leg_symptoms"),
    ("my right leg has gone numb from the knee down", "urgent", "one_leg_symptoms"),
    ("numbness in my left foot since the spasm", "urgent", "one_leg_symptoms"),
    # infection, fever
    ("fever and chills with back pain", "urgent", "fever"),
    ("night sweats soaking the sheets", "urgent", "fever"),
    ("drenched in sweat at night and my back hurts", "urgent", "fever"),
    ("my temp is 38.5 and my back hurts", "urgent", "fever"),
    ("i have a uti and back pain", "urgent", "infection"),
    # weight loss
    ("lost 2 stone without trying", "urgent", "weight_loss"),
    ("lost 10kg without trying in two months", "urgent", "weight_loss"),
    ("my clothes are hanging off me and i havent been dieting", "urgent", "weight_loss"),
    # cancer: the user's own, or the person they are asking for
    ("i had breast cancer 3 years ago and now my back hurts", "urgent", "cancer_history"),
    ("could my cancer be back? my back has been aching", "urgent", "cancer_history"),
    ("im in remission from lymphoma, is this back pain something to worry about", "urgent", "cancer_history"),
    ("I'm scared because I had prostate cancer", "urgent", "cancer_history"),
    ("i'm a cancer survivor and my back has started hurting", "urgent", "cancer_history"),
    ("my mum had breast cancer and now her back is really painful", "urgent", "cancer_history"),
    ("I'm worried the cancer has come back", "urgent", "cancer_history"),
    ("does back pain mean the cancer is back?", "urgent", "cancer_history"),
    # bones, immunity, pain that nothing eases, injury
    ("ive been on prednisolone for 5 years", "urgent", "steroids_osteoporosis"),
    ("i have osteoporosis and my back went", "urgent", "steroids_osteoporosis"),
    ("I used to inject heroin", "urgent", "drugs_immunity"),
    ("im on methotrexate for my arthritis", "urgent", "drugs_immunity"),
    ("pain wakes me up every night", "urgent", "night_pain"),
    ("the pain is unbearable and painkillers don't touch it", "urgent", "severe_unrelieved_pain"),
    ("rest doesn't help at all, nothing touches the pain", "urgent", "severe_unrelieved_pain"),
    ("took a hard tackle in football and now my back hurts", "urgent", "minor_trauma"),
    ("there's a lump on my spine that wasn't there before", "urgent", "back_lump"),
    # one sentence among many
    (
        "hi, my back went on monday lifting the shopping. i've been using heat and ibuprofen like it says. work has been "
        "a nightmare and my boss is on my case. the kids are off school too. anyway today i noticed i can't really feel "
        "the toilet paper when i wipe, which is weird. what stretches should i do?",
        "emergency",
        "saddle_numbness",
    ),
    (
        "long story but my lower back has been in spasm for a week, i've tried the physio exercises, heat, the lot. also "
        "i can't wee properly since yesterday, it just dribbles. is a tens machine any good?",
        "emergency",
        "urine_retention",
    ),
    (
        "so i was at the gym doing deadlifts and felt a twinge. went home, iced it. next morning couldn't get out of bed. "
        "my partner helped me. then last night i wet the bed which has never happened. how long do spasms last?",
        "emergency",
        "bladder_incontinence",
    ),
    ("ive had this back pain for months and i'm losing weight without trying, could it be serious?", "urgent", "weight_loss"),
    ("my back has been awful since i came off my bike on the way to work this morning, can i take ibuprofen?", "emergency", "major_trauma"),
]

CRISIS = [
    "i feel like ending it all, this pain is too much",
    "i dont want to live anymore",
    "I wish I was dead",
    "honestly kms this pain",
    "don't want to wake up",
    "everyone would be better off without me",
    "I have a plan",
    "I cut myself when the pain gets bad",
    "no point going on",
    "thinking about overdosing on my pills",
    "i want to kill myself",
    "i just want to die",
    "what's the point anymore, i want to end it all",
    "i cant do this anymore, i want to die",
    "i'd be better off dead",
    "I don't want to be here anymore",
    "I wish I could go to sleep and never wake up",
    "thinking about taking all my pills at once",
    "i've been stockpiling my pills",
    "im suicidal",
    "having suicidal thoughts because of the pain",
    "no reason to live with this pain",
    "i've got nothing to live for",
    "i want to unalive myself",
    "i feel like a burden to everyone",
    "i've been self-harming again",
    "i want to hurt myself",
    "i hurt myself on purpose last night",
    "I burn myself on purpose when it gets bad",
    "i've started cutting again",
    "i keep thinking about ending my life",
    "i cant go on like this",
    "I can't live like this anymore",
    "i want to disappear forever",
    "i've lost the will to live",
    "i took an overdose last night",
    "i dont see the point anymore",
    "the spasms are bad. honestly some days i don't want to wake up. what's the best mattress?",
    # the warning signs others may notice: giving things away, saying goodbye, no fight left
    "I've started giving my things away and wrote letters for my son and daughter, just in case",
    "I'm very tired of all of it and I think I've done enough fighting",
    "my kids would honestly be happier without me",
    "i think about dying every day now",
    "some nights i wish i could just stop existing",
    "i have started looking up ways to end it",
    "sometimes i feel like it would be easier for everyone if i just disappeared",
    "i've been thinking everyone would be relieved if i died",
]

NEAR_MISSES = [
    # a relative's condition, not the user's
    "my mum had cancer",
    "my dad had bowel cancer, should I worry about my back?",
    "my friend's mum died of cancer and now im paranoid about my back",
    "my wife is on chemo and i hurt my back lifting her",
    "my mum's cancer is back and I'm stressed, my back is in knots",
    # falling asleep is not a fall
    "I fell asleep on the couch",
    "fell asleep in the chair",
    "I fell asleep on the sofa and woke up with a stiff back",
    "fell asleep on my back on the floor watching tv",
    "i fell behind at work because of my back",
    # hurting yourself by accident is not self-harm
    "against my wife's protests that I'd hurt myself",
    "I hurt myself at the gym",
    "hurt myself lifting",
    "I hurt myself lifting a box",
    "i cut myself some slack and rested today",
    "i cut myself shaving lol, anyway how long do spasms last",
    # figures of speech
    "this pain is killing me",
    "I'm dying here lol",
    "killer workout",
    "dead lift",
    "deadlift",
    "dying for a coffee",
    "my back is killing me lol",
    "dying to get back to the gym",
    "I'm so fed up with this pain",
    "I can't stand this pain anymore, what helps",
    "my husband can't stand the smell of deep heat",
    "I just want the pain to disappear",
    "I'm tired of living with back pain, what else can I try",
    "I can't go on walks anymore because of my back",
    "I don't want to go on more painkillers",
    "how can I sleep through the night and not wake up in pain",
    "i don't want to wake up my wife when i get up with a spasm",
    "I have a plan from my physio, is it ok to stretch",
    "I have a treatment plan",
    "i already have a plan, thanks",
    "I walk 5 kms a day for my back",
    "I'm tired of fighting with my insurance company about physio",
    "how many kms should i walk",
    # losing weight on purpose
    "does losing weight help back spasms",
    "trying to lose weight to help my back",
    "I need to lose weight, will that help my back",
    "i've lost weight on purpose and my back feels better",
    # severe spasms are not pain that nothing eases
    "what treatments do doctors offer for severe back spasms",
    "what are the best treatments for severe back spasms",
    "what helps severe back pain",
    "I'm in agony getting out of bed in the morning",
    # one letter from a sign word, or a sign word in another sense
    "I leaned over to pick something up",
    "I leaned over the sink and my back went",
    "I was leaning on the counter when it spasmed",
    "it's a wee bit hard to bend over",
    "i feel completely wiped out from the pain",
    "pain shooting up from my lower back",
    "pain shooting up my spine",
    "it sends shivers down my spine when i twist",
    "what temperature should the heat pad be",
    "room temperature water or cold for my back",
    "numbness at the bottom of my back",
    "I was sweating at the gym last night and my back seized",
    "what are hearing aids",
    "i take steroid injections, is that ok",
    "should i take steroids for back pain",
    "ive been dragging my feet about seeing a physio",
    "i stumbled across this bot",
    "I can't stand up straight because of the spasm",
    "I barely made it to the bathroom because the spasm made walking so slow",
    # long-standing leaking on a sneeze, and a bottom numb from a hard chair
    "I pee a bit when I sneeze, always have",
    "I leak a little when I sneeze, always have since having kids",
    "my bum goes numb from sitting on hard chairs",
    # history, and signs the user denies
    "I was in a car accident years ago and my back has been weak since",
    "back spasms every single day since I was rear-ended 4 years ago (whiplash plus lower back)",
    "fell off a horse as a teenager, 20 years ago. back aches in cold weather",
    "When I was 8 I fell out of a tree and hurt my back, was in hospital overnight and fine",
    "knocked off my bike back in uni, healed fine. best bike fit for a dodgy back?",
    "I fell off the wagon with my stretching routine over Christmas",
    # a "pop" while lifting is a strained muscle, not an injury from a blow; landing on your feet is no fall
    "I was lifting the baby out of her car seat and felt a pop in my lower back",
    "jumped for the ball and landed on my feet, then my back cramped",
    "no numbness or tingling",
    "my legs are fine",
    "my legs are fine, no numbness",
    "i can pee fine and no numbness",
    "lie on your back with both legs bent",
    "should I stretch both legs",
]

QUESTIONS = [
    "does back pain mean cancer?",
    "could this be cancer?",
    "is it a tumour",
    "is back pain a sign of cancer",
    "could my back pain be cancer?",
    "i'm worried it could be a tumour",
    "can a spasm be a sign of a tumor",
    "how do i know if its cancer or just a spasm",
    "what if it's cancer",
    "does this mean i have cancer",
    "could her back pain be cancer?",
    "could it be an infection?",
    "could it be osteoporosis?",
    "am i at risk of osteoporosis",
    "could it be HIV?",
    "could weight loss be a sign of cancer",
]

ONE_FOOT = [
    "foot drop on the right side",
    "my foot keeps dragging when I walk",
    "my left foot slaps the floor when i walk",
    "dragging my leg since the spasm",
    "my right foot feels weak and floppy",
]


def _short(text: str) -> str:
    return text[:60]


@pytest.mark.parametrize(("message", "tier", "sign"), SIGNS, ids=[_short(s[0]) for s in SIGNS])
def test_real_wording_of_a_warning_sign_raises_its_tier(brain: Brain, message: str, tier: str, sign: str | None) -> None:
    reply = brain.answer(message)
    assert (reply.kind, reply.urgency) == ("urgent", tier), reply
    if sign:
        assert sign in {s.id for s in brain.detector.scan(message).signs}


@pytest.mark.parametrize("message", CRISIS, ids=_short)
def test_crisis_phrasings_get_the_crisis_reply(brain: Brain, message: str) -> None:
    reply = brain.answer(message)
    assert (reply.kind, reply.urgency) == ("urgent", "crisis"), reply
    assert "988" in reply.text and "116 123" in reply.text


#: Despair in words no phrasing holds: the crisis net (bot/crisis_net.py) reads them.
UNNAMED_CRISES = [
    "my kids would cope fine if i wasnt around anymore",
    "nobody would even miss me if i was not around",
]


@pytest.mark.parametrize("message", UNNAMED_CRISES, ids=_short)
def test_despair_in_words_no_phrasing_holds_still_gets_the_crisis_reply(brain: Brain, message: str) -> None:
    assert not brain.detector.scan(message).signs
    reply = brain.answer(message)
    assert (reply.kind, reply.urgency) == ("urgent", "crisis"), reply
    assert "988" in reply.text and "116 123" in reply.text


@pytest.mark.parametrize("message", ["my back is gone again", "i'm so tired of this pain", "i would be lost without my heat pad"], ids=_short)
def test_the_crisis_net_does_not_read_weariness_or_a_short_sentence_as_a_crisis(brain: Brain, message: str) -> None:
    assert brain.answer(message).kind != "urgent"


@pytest.mark.parametrize("message", NEAR_MISSES, ids=_short)
def test_near_misses_raise_no_alarm(brain: Brain, message: str) -> None:
    reply = brain.answer(message)
    assert reply.kind != "urgent", (reply.id, reply.urgency)


@pytest.mark.parametrize("message", QUESTIONS, ids=_short)
def test_a_question_about_a_condition_gets_the_warning_signs_answer(brain: Brain, message: str) -> None:
    reply = brain.answer(message)
    assert (reply.kind, reply.topic) == ("answer", "medical_care"), reply


@pytest.mark.parametrize("message", ONE_FOOT, ids=_short)
def test_one_foot_is_not_both_legs(brain: Brain, message: str) -> None:
    reply = brain.answer(message)
    assert (reply.kind, reply.urgency, reply.id) == ("urgent", "urgent", "one_leg_symptoms"), reply
    labels = {s.id: s.label for s in brain.content.signs}
    mentioned = next(line for line in reply.text.splitlines() if "You mentioned" in line)
    assert labels["one_leg_symptoms"] in mentioned
    assert labels["both_legs_weak"] not in mentioned
    assert "both legs" not in labels["one_leg_symptoms"]


def test_every_sign_names_its_guideline_and_a_plain_label(brain: Brain) -> None:
    for sign in brain.content.signs:
        assert any(name in sign.source for name in ("NICE", "NHS")), sign.id
        assert sign.label and sign.label == sign.label.strip() and len(sign.label) < 80, sign.id
