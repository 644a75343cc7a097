"""dlopt_lab: the helper library of the dlopt-lab textbook on deep-learning optimization.

Everything a chapter needs is importable from here; each name is introduced in the chapter
that teaches it. Importing the package is cheap: torch and matplotlib load on first use.
"""

from dlopt_lab.data import (
    DigitsData,
    digits_loaders,
    load_digits,
    load_idx_dataset,
    make_classification,
    make_regression,
    read_idx,
    write_idx,
)
from dlopt_lab.devices import device_name, pick_device
from dlopt_lab.explorers import Explorer
from dlopt_lab.initialization import (
    LayerStats,
    he_std,
    init_mlp,
    layer_statistics,
    make_mlp,
    xavier_std,
)
from dlopt_lab.landscapes import (
    LANDSCAPES,
    Landscape,
    beale,
    get_landscape,
    himmelblau,
    quadratic,
    rosenbrock,
    saddle,
    six_hump_camel,
)
from dlopt_lab.plotting import plot_landscape, plot_loss, plot_path, use_book_style
from dlopt_lab.preprocessing import (
    MinMaxScaler,
    Standardizer,
    add_noise,
    augment,
    random_rotation,
    random_shift,
    rotate_images,
    shift_images,
    stratified_split,
)
from dlopt_lab.quant import (
    QuantizedTensor,
    calibrate_minmax,
    calibrate_percentile,
    fake_quantize,
    qparams,
    qrange,
    quantize,
)
from dlopt_lab.regularization import inverted_dropout, l1_penalty, l2_penalty
from dlopt_lab.reproducibility import set_seed
from dlopt_lab.schedules import (
    LRRangeResult,
    constant,
    cosine_annealing,
    exponential_decay,
    lr_range_test,
    one_cycle,
    plot_lr_range,
    plot_schedule,
    step_decay,
    warmup_cosine,
)
from dlopt_lab.search import (
    Choice,
    IntUniform,
    LogUniform,
    SearchResult,
    Trial,
    Uniform,
    grid_search,
    random_search,
    successive_halving,
)
from dlopt_lab.serve import LoadResult, ServerHandle, create_app, load_test, serve
from dlopt_lab.source import show_source
from dlopt_lab.timing import Timing, compare, time_call
from dlopt_lab.training import History, evaluate, fit, gradient_norm
from dlopt_lab.trajectories import Trajectory, run

__version__ = "0.1.0"

__all__ = [
    "Choice",
    "DigitsData",
    "Explorer",
    "History",
    "IntUniform",
    "LANDSCAPES",
    "LRRangeResult",
    "Landscape",
    "LayerStats",
    "LoadResult",
    "LogUniform",
    "MinMaxScaler",
    "QuantizedTensor",
    "SearchResult",
    "ServerHandle",
    "Standardizer",
    "Timing",
    "Trajectory",
    "Trial",
    "Uniform",
    "__version__",
    "add_noise",
    "augment",
    "beale",
    "calibrate_minmax",
    "calibrate_percentile",
    "compare",
    "constant",
    "cosine_annealing",
    "create_app",
    "device_name",
    "digits_loaders",
    "evaluate",
    "exponential_decay",
    "fake_quantize",
    "fit",
    "get_landscape",
    "gradient_norm",
    "grid_search",
    "he_std",
    "himmelblau",
    "init_mlp",
    "inverted_dropout",
    "l1_penalty",
    "l2_penalty",
    "layer_statistics",
    "load_digits",
    "load_idx_dataset",
    "load_test",
    "lr_range_test",
    "make_classification",
    "make_mlp",
    "make_regression",
    "one_cycle",
    "pick_device",
    "plot_landscape",
    "plot_loss",
    "plot_lr_range",
    "plot_path",
    "plot_schedule",
    "qparams",
    "qrange",
    "quadratic",
    "quantize",
    "random_rotation",
    "random_search",
    "random_shift",
    "read_idx",
    "rosenbrock",
    "rotate_images",
    "run",
    "saddle",
    "serve",
    "set_seed",
    "shift_images",
    "show_source",
    "six_hump_camel",
    "step_decay",
    "stratified_split",
    "successive_halving",
    "time_call",
    "use_book_style",
    "warmup_cosine",
    "write_idx",
    "xavier_std",
]
