"""How sure a value read from text is, by how it was found; defined once for every rule.

The number is not a probability the rules computed: it ranks the ways a value can be found, so the
agent, the LLM merge and the reports treat them the same way everywhere.
"""

from __future__ import annotations

#: "species: rat", "the sex is male", "change the age to 14 weeks": the user named the field.
LABELLED = 0.95
#: A phrase that names the field right before the value: "recorded by X", "ID M-042", "12 weeks old".
CUE = 0.9
#: A term from a closed vocabulary, or an id after an animal word: "CA1", "PV-Cre", "mouse M12".
TERM = 0.85
#: Read from the words around it, not from a cue of this field: "with X", "F" in "M17, F, 9 weeks".
CONTEXT = 0.75
#: Only half the value was said: a date with no time of day.
PARTIAL = 0.6
#: The field is guessed from the value's shape alone: "M17" opening terse notes, a bare "Dr. Lee Chen".
GUESS = 0.5

#: Below this a value is asked back ("Is the subject id 'M17'?") instead of being saved as a fact.
ASK_BELOW = 0.6

#: A value the user confirmed with "yes" after being asked.
CONFIRMED = CUE


def unsure(confidence: float) -> bool:
    """Whether a value this confident must be confirmed by the user before it is saved."""
    return confidence < ASK_BELOW
