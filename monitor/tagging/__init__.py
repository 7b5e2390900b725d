"""Topic tagging and entity extraction over the taxonomy in config/topics.yaml.

The taxonomy (entities with aliases, cue phrases, lookalikes, topic rules) is validated on load
and compiled once into a single Aho-Corasick automaton; tagging a story is one scan per field
plus work proportional to the matches found, so it does not grow with the number of aliases.
The file's own header explains the rule language for analysts.

Modules, in the order data flows through them:

- `taxonomy`: the typed records and loading/validating the YAML (`load_taxonomy`).
- `matching`: the aliases compiled into the automaton; finding a story's mentions.
- `rules`: whether a topic rule fires on the mentions, and its evidence.
- `tagger`: `Tagger.tag` scores one story into a `TagResult`.
- `records`: `tag_record`, the JSON Lines adapter of `newsmon tag`.
"""

from monitor.tagging.records import tag_record
from monitor.tagging.tagger import Tagger, TagResult
from monitor.tagging.taxonomy import TaxonomyError, load_taxonomy, parse_taxonomy

__all__ = [
    "TagResult",
    "Tagger",
    "TaxonomyError",
    "load_taxonomy",
    "parse_taxonomy",
    "tag_record",
]
