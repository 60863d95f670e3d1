"""The paper: Markdown draft from the study's analysis, LaTeX via pandoc, PDF, arXiv bundle and check.

`write_paper(study_dir)` does it all and is what the demo calls; `loralab paper draft|build|check` are
the steps. The paper reads only `<study>/analysis/` (stats.json through its schema, figures) and the
run specs; it computes no statistics itself.
"""

from loralab.paper.build import PaperOutputs, build_paper, draft_paper, write_paper
from loralab.paper.bundle import CheckResult, check_bundle

__all__ = ["CheckResult", "PaperOutputs", "build_paper", "check_bundle", "draft_paper", "write_paper"]
