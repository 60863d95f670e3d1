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

# What the paper cites and the issue asks the curated bibliography to hold.
EXPECTED = {
    "hu2022lora": ("inproceedings", "2022"),
    "zhang2023adalora": ("inproceedings", "2023"),
    "valipour2023dylora": ("inproceedings", "2023"),
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
