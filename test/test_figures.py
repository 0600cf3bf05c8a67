"""python -m scmis_core.figures writes both sheets with the expected grid sizes."""

import numpy as np
from PIL import Image

from scmis_core.figures import main


def test_figures_write_samples_and_seed_sheets(tiny_gan_checkpoint, tmp_path):
    assert main(["--checkpoint", str(tiny_gan_checkpoint), "--frames", "3", "--seeds", "2",
                 "--device", "cpu", "--out", str(tmp_path)]) == 0
    samples = np.asarray(Image.open(tmp_path / "samples.png"))
    seeds = np.asarray(Image.open(tmp_path / "seeds.png"))
    # 32x32 cells with 2-pixel gaps: 3 rows x 5 columns; 1 row x (1 + 2 rgb + 2 depth).
    assert samples.shape == (3 * 32 + 2 * 2, 5 * 32 + 4 * 2, 3)
    assert seeds.shape == (32, 5 * 32 + 4 * 2, 3)
    assert main(["--checkpoint", str(tmp_path / "missing.pt"), "--out", str(tmp_path)]) == 2
