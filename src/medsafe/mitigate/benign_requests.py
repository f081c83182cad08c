"""Everyday benign medical requests, composed from word lists written for medsafe.

The bundled ``overrefusal`` set holds benign requests that *sound* sensitive; on its own it
teaches the guard's request classifier that only alarming-sounding requests are benign, and
plain clinical questions (exam items, patient-education requests) then look harmful. These
requests fill that gap: questions about conditions and medicines, clinical vignettes with
lettered options, and routine writing tasks. They are training data only, composed with a fixed
seed so the corpus is the same on every machine.
"""

from __future__ import annotations

import random

CONDITIONS = (
    "hypertension", "type 2 diabetes", "asthma", "COPD", "migraine", "atrial fibrillation",
    "heart failure", "hypothyroidism", "hyperthyroidism", "rheumatoid arthritis", "osteoarthritis",
    "gout", "psoriasis", "eczema", "acne", "shingles", "chickenpox", "influenza", "pneumonia",
    "urinary tract infection", "kidney stones", "chronic kidney disease", "anaemia",
    "iron deficiency", "vitamin B12 deficiency", "coeliac disease", "Crohn's disease",
    "ulcerative colitis", "irritable bowel syndrome", "GERD", "peptic ulcer disease",
    "gallstones", "appendicitis", "pancreatitis", "hepatitis B", "hepatitis C", "cirrhosis",
    "deep vein thrombosis", "pulmonary embolism", "stroke", "epilepsy", "Parkinson's disease",
    "multiple sclerosis", "Alzheimer's disease", "depression", "generalised anxiety disorder",
    "bipolar disorder", "ADHD", "insomnia", "sleep apnoea", "osteoporosis", "glaucoma",
    "cataracts", "otitis media", "tonsillitis", "sinusitis", "Lyme disease", "malaria",
    "tuberculosis", "measles", "whooping cough", "endometriosis", "polycystic ovary syndrome",
    "pre-eclampsia", "gestational diabetes", "benign prostatic hyperplasia", "sepsis",
    "cellulitis", "scabies", "head lice", "plantar fasciitis", "carpal tunnel syndrome",
    "sciatica", "tension headache", "vertigo", "tinnitus", "conjunctivitis", "hay fever",
)
DRUGS = (
    "metformin", "lisinopril", "amlodipine", "atorvastatin", "levothyroxine", "omeprazole",
    "salbutamol", "budesonide", "prednisolone", "amoxicillin", "doxycycline", "azithromycin",
    "nitrofurantoin", "warfarin", "apixaban", "clopidogrel", "aspirin", "ibuprofen",
    "naproxen", "paracetamol", "sertraline", "fluoxetine", "citalopram", "mirtazapine",
    "lithium", "lamotrigine", "levetiracetam", "sumatriptan", "propranolol", "bisoprolol",
    "furosemide", "spironolactone", "insulin glargine", "empagliflozin", "allopurinol",
    "colchicine", "methotrexate", "hydroxychloroquine", "cetirizine", "loratadine",
    "montelukast", "tamsulosin", "finasteride", "alendronate", "vitamin D", "folic acid",
    "ferrous sulfate", "ondansetron", "loperamide", "lactulose",
)
SYMPTOMS = (
    "fever", "productive cough", "shortness of breath", "chest pain on exertion", "palpitations",
    "fatigue", "weight loss", "night sweats", "joint swelling", "morning stiffness",
    "abdominal pain", "diarrhoea", "constipation", "blood in the stool", "nausea",
    "a persistent headache", "blurred vision", "a rash on the trunk", "itching at night",
    "painful urination", "frequent urination", "excessive thirst", "ankle swelling",
    "dizziness on standing", "a sore throat", "ear pain", "lower back pain", "numbness in the hand",
    "a tremor at rest", "memory problems", "low mood", "poor sleep", "jaundice", "wheezing",
)
WHO = (
    "a {age}-year-old man", "a {age}-year-old woman", "a {age}-year-old patient",
    "an {age}-year-old retired teacher", "a {age}-year-old pregnant woman at 30 weeks",
)
PATIENT_QUESTIONS = (
    "What are the usual symptoms of {condition}?",
    "How is {condition} diagnosed?",
    "What treatments are available for {condition}?",
    "Can {condition} be prevented, and how?",
    "Is {condition} hereditary?",
    "What lifestyle changes help with {condition}?",
    "When should someone with {condition} see a doctor urgently?",
    "How long does it usually take to recover from {condition}?",
    "My mother was just told she has {condition}. What does that mean for her day to day?",
    "Can you explain {condition} in simple words?",
    "What questions should I ask my doctor about {condition}?",
    "Is exercise safe if I have {condition}?",
)
DRUG_QUESTIONS = (
    "What is {drug} used for?",
    "What are the common side effects of {drug}?",
    "Should I take {drug} with food?",
    "How does {drug} work in the body?",
    "What should I do if I forget a dose of {drug}?",
    "Can I drink alcohol while taking {drug}?",
    "Which medicines interact with {drug}?",
    "Is {drug} safe during pregnancy?",
    "How long does {drug} take to start working?",
    "Explain the mechanism of action of {drug} for a pharmacology exam.",
)
CLINICAL_TASKS = (
    "What is the first-line treatment for {condition} in adults?",
    "Summarise current guideline recommendations for managing {condition}.",
    "What is the pathophysiology of {condition}?",
    "Write a short patient information leaflet about {condition}.",
    "Draft a discharge summary template for a patient admitted with {condition}.",
    "What investigations would you order for suspected {condition}?",
    "List the complications of {condition} that a junior doctor should watch for.",
    "Make a revision table comparing {condition} and {other}.",
    "How do you tell {condition} apart from {other} clinically?",
    "What is the typical monitoring plan for a patient started on {drug}?",
    "Create five flashcards about {condition} for medical students.",
)
VIGNETTE_QUESTIONS = (
    "What is the most likely diagnosis?",
    "Which is the most appropriate next step in management?",
    "Which investigation is most useful to confirm the diagnosis?",
    "Which treatment is most appropriate?",
    "Which of the following best explains these findings?",
)
OPTION_INSTRUCTIONS = (
    "Reply with the letter of the best answer.",
    "Choose one option.",
    "Which option is correct? Give the letter.",
    "Pick the single best answer.",
    "",
)


def _vignette(rng: random.Random) -> str:
    who = rng.choice(WHO).format(age=rng.randint(18, 88))
    found = rng.sample(SYMPTOMS, rng.randint(2, 3))
    story = f"{who[0].upper()}{who[1:]} presents with {', '.join(found[:-1])} and {found[-1]} " \
            f"for {rng.randint(2, 20)} {rng.choice(('days', 'weeks', 'months'))}."
    if rng.random() < 0.5:
        story += f" Temperature is {rng.uniform(36.5, 39.5):.1f} C, pulse {rng.randint(60, 120)}/min."
    question = rng.choice(VIGNETTE_QUESTIONS)
    if "diagnos" in question or "explains" in question:
        choices = rng.sample(CONDITIONS, rng.choice((4, 5)))
    else:
        choices = rng.sample(DRUGS, rng.choice((4, 5)))
    options = "\n".join(f"{'ABCDE'[i]}. {c[0].upper()}{c[1:]}" for i, c in enumerate(choices))
    return f"{story} {question}\n\n{options}\n\n{rng.choice(OPTION_INSTRUCTIONS)}".strip()


def benign_requests(n: int = 600, seed: int = 20261122) -> list[str]:
    """``n`` distinct benign medical requests of four kinds, the same for a given seed."""
    rng = random.Random(seed)
    makers = (
        lambda: rng.choice(PATIENT_QUESTIONS).format(condition=rng.choice(CONDITIONS)),
        lambda: rng.choice(DRUG_QUESTIONS).format(drug=rng.choice(DRUGS)),
        lambda: rng.choice(CLINICAL_TASKS).format(
            condition=rng.choice(CONDITIONS), other=rng.choice(CONDITIONS), drug=rng.choice(DRUGS)),
        lambda: _vignette(rng),
    )
    out: dict[str, None] = {}
    while len(out) < n:
        out[makers[len(out) % len(makers)]()] = None
    return list(out)
