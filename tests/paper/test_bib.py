import pytest

from loralab.errors import PaperError
from loralab.paper.bib import (
    REQUIRED,
    check_citations,
    check_entries,
    curated_bib_text,
    merged_bibliography,
    parse_bib,
)

# What the paper cites, plus Holm and Benjamini-Hochberg (the analysis applies neither, so the draft
# does not cite them; kept for users who add such a correction to their draft).
EXPECTED = {
    "hu2022lora": ("inproceedings", "2022"),
    "zhang2023adalora": ("inproceedings", "2023"),
    "valipour2023dylora": ("inproceedings", "2023"),
    "ding2023sora": ("inproceedings", "2023"),
    "zhang2023increlora": ("misc", "2023"),
    "zhang2024autolora": ("inproceedings", "2024"),
    "liu2024alora": ("inproceedings", "2024"),
    "kalajdzievski2023rslora": ("misc", "2023"),
    "dettmers2023qlora": ("inproceedings", "2023"),
    "mangrulkar2022peft": ("misc", "2022"),
    "zhang2020dialogpt": ("inproceedings", "2020"),
    "taori2023alpaca": ("misc", "2023"),
    "wolf2020transformers": ("inproceedings", "2020"),
    "benallal2025smollm2": ("misc", "2025"),
    "efron1979bootstrap": ("article", "1979"),
    "holm1979simple": ("article", "1979"),
    "dunn1961multiple": ("article", "1961"),
    "lakens2018equivalence": ("article", "2018"),
    "benjamini1995fdr": ("article", "1995"),
    "dror2018hitchhiker": ("inproceedings", "2018"),
    "agarwal2021precipice": ("inproceedings", "2021"),
    "bouthillier2021variance": ("inproceedings", "2021"),
    "lakens2013effect": ("article", "2013"),
    "saravanan2020hierarchical": ("article", "2020"),
}


def test_curated_bibliography_is_complete_and_valid():
    entries = parse_bib(curated_bib_text(), "references.bib")
    check_entries(entries)  # unique keys, required fields per type, 4-digit years
    by_key = {e.key: e for e in entries}
    assert set(by_key) == set(EXPECTED)
    for key, (kind, year) in EXPECTED.items():
        assert by_key[key].type == kind, key
        assert by_key[key].fields["year"] == year, key
        for f in REQUIRED[kind]:
            assert by_key[key].fields[f], (key, f)


def test_curated_facts_that_are_easy_to_get_wrong():
    by_key = {e.key: e for e in parse_bib(curated_bib_text())}
    assert "ICLR" in by_key["hu2022lora"].fields["booktitle"]
    assert "European Chapter" in by_key["valipour2023dylora"].fields["booktitle"]
    assert "System Demonstrations" in by_key["zhang2020dialogpt"].fields["booktitle"]
    assert "System Demonstrations" in by_key["wolf2020transformers"].fields["booktitle"]
    assert by_key["saravanan2020hierarchical"].fields["author"].startswith("Saravanan, Varun")
    assert by_key["holm1979simple"].fields["journal"] == "Scandinavian Journal of Statistics"


def _authors(entry):
    return [a.strip() for a in entry.fields["author"].split(" and ")]


# Checked against the ACL Anthology pages (2023.emnlp-main.252, 2024.naacl-long.282, 2023.eacl-main.239),
# the papers' arXiv listings and, for ALoRA, its paper header and its DOI record.
VERIFIED = {
    "ding2023sora": {
        "authors": [
            "Ding, Ning",
            "Lv, Xingtai",
            "Wang, Qiaosen",
            "Chen, Yulin",
            "Zhou, Bowen",
            "Liu, Zhiyuan",
            "Sun, Maosong",
        ],
        "title": "Sparse Low-rank Adaptation of Pre-trained Language Models",
        "booktitle": "Proceedings of the 2023 Conference on Empirical Methods in Natural Language Processing",
        "pages": "4133--4145",
        "doi": "10.18653/v1/2023.emnlp-main.252",
        "note": "arXiv:2311.11696",
    },
    "zhang2023increlora": {
        "authors": [
            "Zhang, Feiyu",
            "Li, Liangzhi",
            "Chen, Junhao",
            "Jiang, Zhouqiang",
            "Wang, Bowen",
            "Qian, Yiming",
        ],
        "title": "{IncreLoRA}: Incremental Parameter Allocation Method for Parameter-Efficient Fine-tuning",
        "howpublished": "arXiv preprint arXiv:2308.12043",
    },
    "zhang2024autolora": {
        "authors": ["Zhang, Ruiyi", "Qiang, Rushi", "Somayajula, Sai Ashish", "Xie, Pengtao"],
        "title": "{AutoLoRA}: Automatically Tuning Matrix Ranks in Low-Rank Adaptation"
        " Based on Meta Learning",
        "pages": "5048--5060",
        "doi": "10.18653/v1/2024.naacl-long.282",
        "note": "arXiv:2403.09113",
    },
    "liu2024alora": {
        "authors": ["Liu, Zequan", "Lyn, Jiawen", "Zhu, Wei", "Tian, Xing", "Graham, Yvette"],
        "title": "{ALoRA}: Allocating Low-Rank Adaptation for Fine-tuning Large Language Models",
        "pages": "622--641",
        "doi": "10.18653/v1/2024.naacl-long.35",
        "note": "arXiv:2403.16187",
    },
    "zhang2023adalora": {  # the ICLR paper's seven authors (arXiv v2 adds an eighth)
        "authors": [
            "Zhang, Qingru",
            "Chen, Minshuo",
            "Bukharin, Alexander",
            "He, Pengcheng",
            "Cheng, Yu",
            "Chen, Weizhu",
            "Zhao, Tuo",
        ],
        "note": "arXiv:2303.10512",
    },
    "valipour2023dylora": {
        "authors": ["Valipour, Mojtaba", "Rezagholizadeh, Mehdi", "Kobyzev, Ivan", "Ghodsi, Ali"],
        "pages": "3274--3287",
        "doi": "10.18653/v1/2023.eacl-main.239",
        "note": "arXiv:2210.07558",
    },
    "kalajdzievski2023rslora": {
        "authors": ["Kalajdzievski, Damjan"],
        "title": "A Rank Stabilization Scaling Factor for Fine-Tuning with {LoRA}",
        "howpublished": "arXiv preprint arXiv:2312.03732",
    },
}


@pytest.mark.parametrize("key", sorted(VERIFIED))
def test_rank_allocation_entries_carry_the_verified_fields(key):
    entry = {e.key: e for e in parse_bib(curated_bib_text())}[key]
    expected = dict(VERIFIED[key])
    assert _authors(entry) == expected.pop("authors")
    for name, value in expected.items():
        assert entry.fields[name] == value, (key, name)
    naacl = "North American Chapter of the Association for Computational Linguistics: Human Language"
    if key in ("zhang2024autolora", "liu2024alora"):
        assert naacl in entry.fields["booktitle"] and "(Volume 1: Long Papers)" in entry.fields["booktitle"]


def test_missing_required_field_is_refused():
    entries = parse_bib("@article{x2020, author={A}, title={T}, year={2020}}", "user.bib")
    with pytest.raises(PaperError, match=r"lacks journal"):
        check_entries(entries)


def test_duplicate_keys_are_refused_case_insensitively():
    text = "@misc{Key, author={A}, title={T}, year={2020}}\n@misc{key, author={B}, title={U}, year={2021}}"
    with pytest.raises(PaperError, match="defined twice"):
        check_entries(parse_bib(text, "user.bib"))


def test_parser_reads_quotes_numbers_nested_braces_and_skips_comments():
    text = """
    % a comment @misc{not, an entry}
    @comment{ignored}
    @string{foo = "bar"}
    @article(k1, author = "A and B", title = {The {LoRA} {{nested}} title}, journal = {J},
             year = 2001, pages = {1--2})
    """
    (e,) = parse_bib(text)
    assert e.key == "k1" and e.type == "article"
    assert e.fields["title"] == "The {LoRA} {{nested}} title"
    assert e.fields["year"] == "2001"
    assert e.fields["author"] == "A and B"


def test_user_bib_is_merged_and_replaces_a_curated_key(tmp_path):
    user = tmp_path / "mine.bib"
    user.write_text(
        "@misc{mine2024, author={Me}, title={Mine}, year={2024}}\n"
        "@misc{hu2022lora, author={Hu}, title={Override}, year={2022}}\n"
    )
    text, entries = merged_bibliography([user])
    keys = [e.key for e in entries]
    assert keys.count("hu2022lora") == 1 and "mine2024" in keys
    assert "Override" in text and "Low-Rank Adaptation of Large" not in text
    check_entries(parse_bib(text))


def test_unknown_citation_key_names_it():
    _, entries = merged_bibliography([])
    check_citations({"hu2022lora"}, entries)
    with pytest.raises(PaperError, match=r"@nosuch2099"):
        check_citations({"hu2022lora", "nosuch2099"}, entries)


RANK_ALLOCATION = {
    "zhang2023adalora",
    "liu2024alora",
    "ding2023sora",
    "zhang2023increlora",
    "zhang2024autolora",
    "valipour2023dylora",
    "kalajdzievski2023rslora",
}


def _draft(study_dir):
    from loralab.paper.draft import render_draft
    from loralab.paper.facts import collect_facts
    from loralab.paper.inputs import load_inputs

    inputs = load_inputs(study_dir)
    return render_draft(inputs, collect_facts(inputs))


def _related(draft):
    return draft.split("# Related work", 1)[1].split("\n# ", 1)[0]


def test_every_citation_of_the_draft_is_in_the_curated_bibliography(any_study):
    from loralab.paper.convert import cited_keys

    draft = _draft(any_study)
    cited = cited_keys(draft)
    check_citations(cited, parse_bib(curated_bib_text()))  # no "?" in the PDF
    assert cited >= RANK_ALLOCATION
    # The analysis corrects with Bonferroni only (Settings.correction): Holm and BH go uncited.
    assert not {"holm1979simple", "benjamini1995fdr"} & cited
    assert "Bonferroni" in _related(draft) and "dunn1961multiple" in _related(draft)


def test_related_work_says_which_adaptive_method_the_study_ran(tmp_path):
    from tests.paper.study import make_study

    static = _related(_draft(make_study(tmp_path / "a")))
    assert "None of the adaptive methods is among the strategies compared here" in static
    assert "better than the uniform one at the same trainable-parameter budget" in static
    with_adalora = _related(_draft(make_study(tmp_path / "b", strategies=("uniform", "adalora"))))
    assert "only AdaLoRA is among the strategies compared here" in with_adalora
    assert "None of the adaptive methods" not in with_adalora
    for text in (static, with_adalora):  # prose: no code spans, option names or paths
        assert "`" not in text and "_" not in text and "../" not in text
