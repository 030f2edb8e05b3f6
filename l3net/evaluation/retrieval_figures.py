"""Pictures of retrieval: for a few queries of each direction, the query and its top-5 results.

Like the figures of the first public Objects-that-Sound reproduction: one row per query, the query in
the first column and the nearest results after it. Frames are shown as the network saw them
(the centre crop); audio as a log-magnitude spectrogram thumbnail of the 1 s window. Each cell is
captioned with its video's labels; results that share a label with the query are framed green,
the others red, so a glance tells how good the ranking is.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np

from l3net.atomic_files import atomic_path

RELEVANT_COLOUR = "tab:green"
IRRELEVANT_COLOUR = "tab:red"
SPECTROGRAM_SECONDS = 0.02  # analysis window of the thumbnail


def log_spectrogram(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """float [S] -> [bins, frames] log10 power (20 ms Hann windows, 10 ms hop), low bins first."""
    from scipy import signal

    nperseg = max(16, int(SPECTROGRAM_SECONDS * sample_rate))
    _, _, power = signal.spectrogram(np.asarray(audio, np.float64), fs=sample_rate, window="hann",
                                     nperseg=nperseg, noverlap=nperseg // 2, mode="psd")
    return np.log10(power + 1e-10)


def collect_items(batches: Iterable[Dict[str, object]],
                  wanted: Iterable[int]) -> Dict[int, Tuple[np.ndarray, np.ndarray]]:
    """{video index: (image [S, S, 3], audio [N])} for the wanted indices, from `retrieval_dataset` batches.

    A second pass over the split that keeps only what the figures show (a whole test set of frames
    and windows does not need to be in memory).
    """
    wanted = set(int(i) for i in wanted)
    found: Dict[int, Tuple[np.ndarray, np.ndarray]] = {}
    offset = 0
    for batch in batches:
        images, audios = batch["image"].numpy(), batch["audio"].numpy()
        for j in range(len(images)):
            if offset + j in wanted:
                found[offset + j] = (images[j], audios[j])
        offset += len(images)
        if len(found) == len(wanted):
            break
    return found


def pick_queries(labels: Sequence[Sequence[str]], count: int, seed: int) -> List[int]:
    """`count` query indices with different first labels where possible, chosen with a fixed seed."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    chosen, seen = [], set()
    for i in order:
        first = labels[i][0] if labels[i] else ""
        if first not in seen:
            chosen.append(int(i))
            seen.add(first)
        if len(chosen) == count:
            return chosen
    rest = [int(i) for i in order if int(i) not in chosen]
    return chosen + rest[:count - len(chosen)]


def plot_retrieval_grid(path: str, direction: str, rows: Sequence[Tuple[int, Sequence[int]]],
                        modalities: Tuple[str, str], items: Dict[int, Tuple[np.ndarray, np.ndarray]],
                        labels: Sequence[Sequence[str]], sample_rate: int, title: str) -> None:
    """Writes a PNG grid: one row per (query, results) of `direction`, atomically.

    modalities: (query modality, result modality), each 'image' or 'audio'; items: from
    `collect_items`, covering every query and result index.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = 1 + max(len(results) for _, results in rows)
    fig, axes = plt.subplots(len(rows), columns, figsize=(1.9 * columns, 2.1 * len(rows)), squeeze=False)
    for r, (query, results) in enumerate(rows):
        query_labels = set(labels[query])
        cells = [(query, modalities[0], None)] + [
            (i, modalities[1], bool(query_labels & set(labels[i]))) for i in results]
        for c in range(columns):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(cells):
                ax.axis("off")
                continue
            index, modality, relevant = cells[c]
            image, audio = items[index]
            if modality == "image":
                ax.imshow(np.clip(image, 0.0, 1.0))
            else:
                ax.imshow(log_spectrogram(audio, sample_rate), origin="lower", aspect="auto", cmap="magma")
            caption = ",".join(labels[index]) or "(no label)"
            ax.set_title(("query: " if c == 0 else f"{c}. ") + caption, fontsize=7)
            if relevant is not None:
                for spine in ax.spines.values():
                    spine.set_edgecolor(RELEVANT_COLOUR if relevant else IRRELEVANT_COLOUR)
                    spine.set_linewidth(3)
    fig.suptitle(f"{title}: {direction} (query, then top {columns - 1}; green = shares a label)", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
