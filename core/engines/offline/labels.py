"""Labelled descriptions the offline engine compares a book's passages with (by embedding similarity).

Each description is written like the prose it should match, not like a definition: the embedder compares passages
of novels with it. Conflicts also carry the logline they lead to ({p}: protagonist, {o}: opposing force).
"""

CONFLICTS = {
    "love and pride": (
        "She refused his proposal of marriage; his pride and her prejudice kept them apart, and her family, "
        "money and rank stood between them until she saw she had misjudged him.",
        "{p} must see past first impressions, pride and prejudice, and the judgement of society before love "
        "with {o} can win."),
    "creation turned monster": (
        "I had created a monster, a wretched creature to whom I had given life; the fiend pursued me and "
        "murdered those I loved, and I swore revenge upon the daemon.",
        "{p} gives life to {o} and must face it as it turns on its maker and destroys everyone {p} loves."),
    "crime and pursuit": (
        "The murder was committed in the night; the detective followed the clues, the suspects lied, and "
        "a stranger was pursued across the sea until the criminal was unmasked.",
        "{p} is pulled into a murder and must unmask {o} before the truth is buried for good."),
    "growing up in a family": (
        "The sisters shared their little troubles and joys at home; they were poor, their father was away, "
        "and each girl had to grow up, work, and learn to be good while keeping her dreams.",
        "{p} must grow up, keep the family together through poverty and loss, and find a place in the world "
        "beside {o}."),
    "journey and adventure": (
        "We set sail on the voyage into unknown lands; storms, ice and savage country stood before us, and "
        "we travelled on through danger, far from home.",
        "{p} sets out on a dangerous journey and must outlast {o} to come home changed."),
    "ambition and ruin": (
        "His ambition drove him to study day and night; he sought glory and forbidden knowledge, and his "
        "pride brought ruin upon himself and his house.",
        "{p}'s ambition sets {p} against {o}, and every step toward glory costs someone {p} loves."),
}

STORY_TYPES = {
    "Comedy": "Misunderstandings, wrong first impressions and matchmaking end in reconciliation and marriages.",
    "Tragedy": "A fatal flaw leads the hero step by step to ruin, despair and death, and all he loved is lost.",
    "Overcoming the Monster": "A terrible monster threatens the hero and those he loves; he must face and destroy it.",
    "Rags to Riches": "Poor and humble, she works hard, is tested by hardship, and rises to love and a better life.",
    "The Quest": "Companions set out on a long journey with a goal, through trials and perils, to reach it.",
    "Voyage and Return": "Travelling to a strange land full of danger and wonder, she escapes and returns home changed.",
    "Rebirth": "Darkness and a curse hold the heroine until love and understanding redeem her and she is reborn.",
}

GENRES = {
    "Romance": "He loved her and asked her to marry him; she blushed, her heart was moved, and they were engaged.",
    "Gothic horror": "In the gloomy night the dreadful monster appeared, and horror and despair seized my soul.",
    "Mystery": "The body was found; who was the murderer? The detective examined the clues and questioned the suspects.",
    "Adventure": "We escaped through the jungle, hunted by our enemies, and sailed away at dawn.",
    "Family drama": "Mother gathered the girls by the fire; the family laughed and cried together at home.",
    "Science fiction": "The experiment gave life to dead matter; science and its discoveries changed the world.",
    "Social satire": "The ridiculous clergyman flattered his patroness, and the foolish mother talked of nothing but fortunes.",
}

TONES = {
    "Witty and ironic": "It was a truth universally acknowledged, she said with an arch smile, teasing him wickedly.",
    "Dark and brooding": "Misery and despair filled my heart; gloom, remorse and horror haunted every night.",
    "Warm and sentimental": "With tears of love and tender kisses, the happy family hugged each other by the fire.",
    "Suspenseful": "I held my breath; someone was following me, and in a moment the shot rang out.",
    "Light and adventurous": "Laughing, she jumped aboard the ship, ready for excitement and whatever came next.",
}

THEMES = {
    "pride": "His pride and arrogance offended everyone; she was too proud to forgive the insult.",
    "prejudice and first impressions": "She had judged him too hastily; her first impressions had been wrong.",
    "marriage and money": "A single man with a good fortune must be in want of a wife; her mother wanted rich husbands.",
    "social class": "Her connections were low, his rank and family far above hers; society would not approve.",
    "family": "The family gathered at home; sisters, mother and father shared love and quarrels.",
    "love": "He loved her ardently; she returned his affection and her heart was his.",
    "ambition and forbidden knowledge": "I sought the secret of life; my ambition to learn what no man knew consumed me.",
    "guilt and revenge": "Remorse tortured me for the deaths I had caused; I swore vengeance on the murderer.",
    "isolation": "Alone and abandoned, shunned by all mankind, I wandered in solitude and misery.",
    "nature and the sublime": "The mountains and glaciers rose majestic above the valley; nature calmed my soul.",
    "growing up": "The girls were growing up; they learned to work, to be good, and to become women.",
    "poverty and work": "They were poor and had to work; money was scarce, and they made do with little.",
    "identity and independence": "She wanted to be free and independent, to write and to choose her own life.",
    "danger and deception": "He was not who he seemed; lies, disguises and a hidden enemy put her in danger.",
    "justice": "The innocent girl was condemned for a crime she did not commit; the judges were unjust.",
}

AUDIENCE_BY_GENRE = {
    "Romance": "Adults and older teens", "Gothic horror": "Adults", "Mystery": "Adults",
    "Adventure": "Teens and adults", "Family drama": "Families", "Science fiction": "Teens and adults",
    "Social satire": "Adults",
}

# Words whose era they tell (checked in this order: the first that fits, with enough cues, wins).
PERIOD_CUES = (
    ("the early twentieth century", ("telephone", "motor", "taxi", "aeroplane", "cinema", "typewriter", "wireless")),
    ("the nineteenth century", ("railway", "train", "telegraph", "steamer", "gas-lamp", "omnibus")),
    ("the late eighteenth century", ("carriage", "chaise", "militia", "candle", "post-horses", "stage-coach")),
)
