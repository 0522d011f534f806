"""Static files for production: WhiteNoise's compressed, hashed storage, without source-map references.

The vendored Bootstrap files end with ``sourceMappingURL=…map`` comments for maps that are not
shipped (they would only help debugging Bootstrap itself). Django's manifest storage follows those
references and stops ``collectstatic`` with ``MissingFileError``, so production could not even
build its static files. Source maps are not rewritten here: a missing map is a 404 in the browser's
developer tools, nothing a user sees.
"""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage


def _without_source_maps(patterns: tuple) -> tuple:
    kept = []
    for extension, rules in patterns:
        rules = tuple(r for r in rules if "sourceMappingURL" not in (r if isinstance(r, str) else r[0]))
        kept.append((extension, rules))
    return tuple(kept)


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    patterns = _without_source_maps(CompressedManifestStaticFilesStorage.patterns)
