"""Which entity a word is about, read from the words between them in the same clause.

- A leadership word belongs to its owner: "Hamas chief", "Hamas's political chief", "leader of
  Hamas", "زعيم حماس", "ראש הלשכה המדינית של חמאס", "chef du Hamas", "Hamas'ın lideri". The owner
  is the nearest organisation or person in the word's own noun phrase - only modifiers listed in
  the rule's `through` cue groups and the language's linking words may stand between - so in
  "FBI chief warns of Hamas-like attacks" or "party leadership on Hamas" the word has some
  other owner and says nothing about Hamas.
- A rhetoric verb aims at its object: "condemns Israel", "İsrail'i kınadı", "تدين إسرائيل".
- A third party can take a side's mention over: in "Erdogan slams Western support for Israel"
  Israel is what the West supports, not what Turkey addresses.

Word order differs by language, so each cue phrase is read with the grammar of the language(s)
it is listed under in the taxonomy. Positions are in the field's folded text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from monitor.tagging.mentions import FieldText, Mention

_MAX_STEPS = 6  # words and modifiers walked over between a word and its head


@dataclass(frozen=True)
class Grammar:
    """Where a word's owner or object stands in one language, and what may link them."""

    owner_before: bool  # the owner precedes the word ("Hamas leader", "Hamas'ın lideri")
    owner_after: bool  # the owner follows ("زعيم حماس", "chef du Hamas", "pemimpin Hamas")
    owner_links: frozenset[str]  # between the word and an owner after it ("of", "du", "של")
    link_required: bool  # an owner after needs a link word ("leader of Hamas")
    object_before: bool  # the object precedes a verb (Turkish: "İsrail'i kınadı")
    object_links: frozenset[str]  # between a verb and its object ("at", "على", "את")
    clause_after: bool = False  # a subordinator governs the words before it (Turkish "sonra")
    kin_after: bool = False  # a kin noun follows the phrase ("kurucusunun oğlu")


def _w(words: str) -> frozenset[str]:
    return frozenset(words.split())


GRAMMARS: dict[str, Grammar] = {
    "en": Grammar(
        owner_before=True,
        owner_after=True,
        owner_links=_w("of from in at within inside the"),
        link_required=True,
        object_before=False,
        object_links=_w("at against on to over toward towards the"),
    ),
    "tr": Grammar(
        owner_before=True,
        owner_after=False,
        owner_links=frozenset(),
        link_required=True,
        object_before=True,
        object_links=frozenset(),
        clause_after=True,
        kin_after=True,
    ),
    "ar": Grammar(
        owner_before=False,
        owner_after=True,
        owner_links=_w("في من لدى داخل"),
        link_required=False,
        object_before=False,
        object_links=_w("على ضد الى"),
    ),
    "he": Grammar(
        owner_before=False,
        owner_after=True,
        owner_links=_w("של"),
        link_required=False,
        object_before=False,
        object_links=_w("את נגד על כלפי"),
    ),
    "fr": Grammar(
        owner_before=False,
        owner_after=True,
        owner_links=_w("de du des d la le les l"),
        link_required=False,
        object_before=False,
        object_links=_w("contre a envers la le les l"),
    ),
    "id": Grammar(
        owner_before=False,
        owner_after=True,
        owner_links=_w("dari di"),
        link_required=False,
        object_before=False,
        object_links=_w("terhadap kepada"),
    ),
}
_DEFAULT = "en"
_DETERMINERS = _w("the a an")
_COORDINATORS = _w("and or ve veya ile et ou dan atau و او ו או &")
_GLUED_AND = ("و", "ו")
# Words that open a reported clause: what follows has its own subject ("told Biden that Israel").
_COMPLEMENTIZERS = _w("that ki que qu ان بان כי bahwa")
# A possessive or Turkish case suffix after a name: Hamas's, Hamas', Hamas'ın, İsrail'e.
_SUFFIX_BEFORE = re.compile(r"'\w{0,4}$")
_WORD_BEFORE = re.compile(r"(\w+)$")
_WORD_AFTER = re.compile(r"\w+")
_LINK_ENDINGS = _w("of by heads leads led")
# Between a phrase and a kin noun after it: a possessive, or just a space (Turkish).
_KIN_AFTER = re.compile(r"(?:'s?)? ?")
# Words inside a description after a name: links, articles and possessive pronouns.
_APPOSITION_WORDS = _w(
    "a an the of its his their who de du des d la le les l son sa ses un une onun dari di seorang"
)


def _last_word(m: Mention) -> str:
    words = _WORD_AFTER.findall(m.src, m.start, m.end)
    return words[-1] if words else ""


def grammars(m: Mention, lang: str | None = None) -> list[Grammar]:
    """The grammars a cue is read with: the story's language when the cue is listed under it
    ("leader" is English and French), else its taxonomy languages (English when unknown)."""
    if lang in m.langs and lang in GRAMMARS:
        return [GRAMMARS[lang]]
    out = [GRAMMARS[x] for x in m.langs if x in GRAMMARS]
    return out or [GRAMMARS[_DEFAULT]]


class Scene:
    """One field's mentions, indexed by where they start and end."""

    def __init__(self, ctx: FieldText, mentions: list[Mention], lang: str | None = None) -> None:
        self.ctx = ctx
        self.lang = lang
        self.entities = [m for m in mentions if m.entity >= 0]
        self.cues = [m for m in mentions if m.entity < 0]
        self._ent_start = {m.word_start: m for m in self.entities}
        self._ent_end = {m.end: m for m in self.entities}
        self._cue_start: dict[int, list[Mention]] = {}
        self._cue_end: dict[int, list[Mention]] = {}
        for c in self.cues:
            self._cue_start.setdefault(c.start, []).append(c)
            self._cue_end.setdefault(c.end, []).append(c)

    def cue_starting(self, pos: int, tags: frozenset[str]) -> Mention | None:
        return next((c for c in self._cue_start.get(pos, ()) if c.tags & tags), None)

    def cue_ending(self, pos: int, tags: frozenset[str]) -> Mention | None:
        return next((c for c in self._cue_end.get(pos, ()) if c.tags & tags), None)

    # -- walking ---------------------------------------------------------------------------

    def before(self, pos: int, through: frozenset[str], links: frozenset[str]) -> Mention | None:
        """The entity a phrase ending the walk leftwards from `pos` reaches, if any."""
        mt, origin = self.ctx.mt, pos
        for _ in range(_MAX_STEPS):
            q = pos
            while q > 0 and mt[q - 1] == " ":
                q -= 1
            if q == 0 or not self.ctx.same_clause(q - 1, origin):
                return None
            suffix = _SUFFIX_BEFORE.search(mt, max(0, q - 6), q)
            end = q - len(suffix.group()) if suffix else q
            ent = self._ent_end.get(end)
            if ent is not None and not ent.tags & through:
                return ent
            if ent is not None:
                pos = ent.word_start  # a region naming a branch: "Hamas's Gaza chief"
                continue
            cue = self.cue_ending(q, through)
            if cue is not None:
                pos = cue.start
                continue
            word = _WORD_BEFORE.search(mt, max(0, q - 40), q)
            if word is not None and word.group() in links:
                pos = word.start()
                continue
            # Modifiers in a list: "Hamas political, military hierarchy", "political and ...".
            joiner = self._joiner_before(q, word)
            if joiner is None or self.cue_ending(joiner, through) is None:
                return None
            pos = joiner
        return None

    def _joiner_before(self, q: int, word: re.Match[str] | None) -> int | None:
        """Where the word before a comma or "and" ending at `q` ends, if one does."""
        mt = self.ctx.mt
        if q > 0 and mt[q - 1] in ",،":
            q -= 1
        elif word is not None and word.end() == q and word.group() in _COORDINATORS:
            q = word.start()
        else:
            return None
        while q > 0 and mt[q - 1] == " ":
            q -= 1
        return q

    def appositive(self, word: Mention) -> Mention | None:
        """The person a description follows after a comma: "Moussa Abou Marzouk, membre de son
        bureau politique", "Khaled Meshaal, who heads Hamas's political office"."""
        mt, pos = self.ctx.mt, word.word_start
        for _ in range(_MAX_STEPS):
            q = pos
            while q > 0 and mt[q - 1] == " ":
                q -= 1
            if q > 0 and mt[q - 1] in ",،":
                q -= 1
                while q > 0 and mt[q - 1] == " ":
                    q -= 1
                head = self._ent_end.get(q)
                ok = head is not None and "person" in head.tags
                return head if ok and self.ctx.same_clause(q, word.start) else None
            cue = next(iter(self._cue_end.get(q, ())), None)
            if cue is not None:
                pos = cue.word_start
                continue
            w = _WORD_BEFORE.search(mt, max(0, q - 40), q)
            if w is None or w.group() not in _APPOSITION_WORDS:
                return None
            pos = w.start()
        return None

    def after(
        self, pos: int, through: frozenset[str], links: frozenset[str], need_link: bool
    ) -> Mention | None:
        """The entity the walk rightwards from `pos` reaches, if any."""
        mt, origin, linked = self.ctx.mt, pos, not need_link
        if pos < len(mt) and mt[pos] == "'":
            return None  # "leader's ...", "leaders' ...": the word owns what follows
        for _ in range(_MAX_STEPS):
            while pos < len(mt) and mt[pos] in " '":
                pos += 1
            if pos >= len(mt) or not self.ctx.same_clause(origin, pos):
                return None
            ent = self._ent_start.get(pos)
            if ent is not None and not ent.tags & through:
                return ent if linked else None
            if ent is not None:
                pos = ent.end
                continue
            cue = self.cue_starting(pos, through)
            if cue is not None:
                pos = cue.end
                continue
            word = _WORD_AFTER.match(mt, pos)
            if word is None or word.group() not in links:
                return None
            linked = linked or word.group() not in _DETERMINERS
            pos = word.end()
        return None

    def coordinated_before(self, m: Mention) -> Mention | None:
        """The entity joined to `m` by "and" or a comma just before it ("Hamas and PIJ",
        "Israel and the US")."""
        mt = self.ctx.mt
        q = m.word_start
        if not m.prefix.startswith(_GLUED_AND):
            q = _skip_back(mt, q)
            det = _WORD_BEFORE.search(mt, max(0, q - 40), q)
            if det is not None and det.group() in _DETERMINERS:
                q = _skip_back(mt, det.start())
            word = _WORD_BEFORE.search(mt, max(0, q - 40), q)
            if word is not None and word.group() in _COORDINATORS:
                q = word.start()
            elif q == 0 or mt[q - 1] not in ",،":
                return None
            else:
                q -= 1
        q = _skip_back(mt, q)
        suffix = _SUFFIX_BEFORE.search(mt, max(0, q - 6), q)
        end = q - len(suffix.group()) if suffix else q
        return self._ent_end.get(end)

    def coordinated_after(self, m: Mention) -> Mention | None:
        """The entity joined to `m` by "and" or a comma just after it."""
        mt = self.ctx.mt
        pos = _skip_on(mt, m.end, " '")
        if pos in self._ent_start and self._ent_start[pos].prefix.startswith(_GLUED_AND):
            return self._ent_start[pos]
        if pos < len(mt) and mt[pos] in ",،":
            pos = _skip_on(mt, pos + 1, " ")
        else:
            word = _WORD_AFTER.match(mt, pos)
            if word is None or word.group() not in _COORDINATORS:
                return None
            pos = _skip_on(mt, word.end(), " ")
        det = _WORD_AFTER.match(mt, pos)
        if det is not None and det.group() in _DETERMINERS:
            pos = _skip_on(mt, det.end(), " ")
        return self._ent_start.get(pos)

    def words_between(self, a: int, b: int) -> list[str]:
        return _WORD_AFTER.findall(self.ctx.mt, a, b) if a < b else []


def _skip_back(mt: str, q: int) -> int:
    """`q` moved left over spaces."""
    while q > 0 and mt[q - 1] == " ":
        q -= 1
    return q


def _skip_on(mt: str, pos: int, chars: str) -> int:
    """`pos` moved right over any of `chars`."""
    while pos < len(mt) and mt[pos] in chars:
        pos += 1
    return pos


def owner(scene: Scene, word: Mention, through: frozenset[str]) -> tuple[Mention, str] | None:
    """The entity a leadership word belongs to, and how it was read; None when it has none."""
    for g in grammars(word, scene.lang):
        if g.owner_before:
            head = scene.before(word.word_start, through, frozenset())
            if head is not None:
                return head, "owner before the word"
        head = scene.after(word.end, through, frozenset(), need_link=False)
        if head is not None and "person" in head.tags:
            return head, "named right after the word"
        if g.owner_after:
            # "head of", "led by", "who heads": the word carries its own link.
            need = g.link_required and _last_word(word) not in _LINK_ENDINGS
            head = scene.after(word.end, through, g.owner_links, need)
            if head is not None:
                return head, "owner after the word"
    head = scene.appositive(word)
    if head is not None:
        return head, "describes the person named before it"
    return None


def target(scene: Scene, word: Mention, through: frozenset[str]) -> tuple[Mention, str] | None:
    """The entity a rhetoric word is aimed at, and how it was read; None when it has none."""
    for g in grammars(word, scene.lang):
        if g.object_before:
            head = scene.before(word.word_start, through, frozenset())
            if head is not None:
                return head, "object before the verb"
        else:
            head = scene.after(word.end, through, g.object_links, need_link=False)
            if head is not None:
                return head, "object after the verb"
    return None


def with_coordinated(scene: Scene, head: Mention) -> list[Mention]:
    """The head and the entities coordinated with it ("Hamas and Islamic Jihad leaders")."""
    heads = [head]
    for step in (scene.coordinated_before, scene.coordinated_after):
        m: Mention | None = head
        for _ in range(3):
            m = step(m) if m is not None else None
            if m is None:
                break
            heads.append(m)
    return heads


def qualified(scene: Scene, lo: int, hi: int, tags: frozenset[str]) -> Mention | None:
    """A qualifier cue (senior, top) inside the phrase [lo, hi) or right next to it."""
    mt = scene.ctx.mt
    for q in scene.cues:
        if not q.tags & tags:
            continue
        if lo <= q.start < hi:
            return q
        if (
            q.end <= lo
            and set(scene.words_between(q.end, lo)) <= _DETERMINERS
            and scene.ctx.same_clause(q.end, lo)
        ):
            return q
        if q.start >= hi and not mt[hi : q.start].strip():
            return q
    return None


def kin_of(scene: Scene, lo: int, hi: int, kin: frozenset[str], word: Mention) -> Mention | None:
    """A kin noun governing the phrase [lo, hi): "son of the Hamas founder", "نجل مؤسس حماس",
    "the Hamas leader's wife", Turkish "Hamas kurucusunun oğlu"."""
    gs = grammars(word, scene.lang)
    links = frozenset().union(*(g.owner_links for g in gs)) | _DETERMINERS
    mt = scene.ctx.mt
    for k in scene.cues:
        if not k.tags & kin:
            continue
        if (
            k.end <= lo
            and lo - k.end < 20
            and set(scene.words_between(k.end, lo)) <= links
            and scene.ctx.same_clause(k.end, lo)
        ):
            return k
        if k.start >= hi:
            between = mt[hi : k.start]
            if _KIN_AFTER.fullmatch(between) and ("'" in between or any(g.kin_after for g in gs)):
                return k
    return None


def in_subordinate_clause(scene: Scene, m: Mention, tags: frozenset[str]) -> Mention | None:
    """The subordinator ("after", "amid", "بعد", Turkish "sonra") whose clause holds `m`."""
    for s in scene.cues:
        if not s.tags & tags:
            continue
        after = any(g.clause_after for g in grammars(s, scene.lang))
        if after and m.end <= s.start and scene.ctx.same_clause(m.end, s.start):
            return s
        if not after and s.end <= m.start and scene.ctx.same_clause(s.end, m.start):
            # "After X, Y ..." opens the headline: its clause ends at the first comma.
            opening = not scene.ctx.mt[: s.start].strip(" \"'")
            if not (opening and "," in scene.ctx.mt[s.end : m.start]):
                return s
    return None


def governor(
    scene: Scene, side: Mention, sides: frozenset[str], third: frozenset[str], window: int = 8
) -> Mention | None:
    """A third party that takes `side` over: it stands before it in the clause with no side
    between ("Western support for Israel", "US warships toward Israel")."""
    ctx, start = scene.ctx, side.word_start
    before = [g for g in scene.entities if g.end <= start]
    for g in sorted(before, key=lambda g: -g.end):
        if not ctx.same_clause(g.end, start):
            return None
        if g.tags & sides:
            return None  # a side is closer: the mention is its business
        if not g.tags & third:
            continue
        between = scene.words_between(g.end, start)
        if len(between) > window or _COMPLEMENTIZERS & set(between):
            return None
        if scene.coordinated_after(g) is side:
            continue  # "ambassador to Lebanon and Turkey": Lebanon shares Turkey's governor
        partner = scene.coordinated_before(g)
        if partner is not None and partner.tags & sides:
            return None  # "Turkey and Iran condemn Israel": the third party is a co-subject
        return g
    return None
