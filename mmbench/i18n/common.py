"""Messages shared by every tab (``mmbench/ui/common.py``): model status lines, the model picker,
errors, stopping a run."""

MESSAGES = {
    "unexpected_error": {
        "en": "Something went wrong while {action} (details in the server log).",
        "zh": "{action}时出了问题（详情见服务器日志）。",
    },
    "active_model": {"en": "Active model:", "zh": "当前模型："},
    "fallback": {"en": "Fallback:", "zh": "已回退："},
    "model": {"en": "Model:", "zh": "模型："},
    "default_model": {"en": "the default model", "zh": "默认模型"},
    "loads_on_first_use": {
        "en": "— loads on first use (a few seconds). If an online model cannot be downloaded here, the offline tier "
              "is used and this line says so.",
        "zh": "——在第一次使用时加载（几秒钟）。如果这里无法下载在线模型，就会改用离线层级，这一行会说明。",
    },
    "tier_info": {
        "en": "Tier in brackets: online models download once, offline ones ship with mmbench.",
        "zh": "括号里是层级：online（在线）模型只下载一次，offline（离线）模型随 mmbench 提供。",
    },
    "tier_info_status": {
        "en": "Tier in brackets: online models download once, offline ones ship with mmbench. The status shows "
              "which model answered.",
        "zh": "括号里是层级：online（在线）模型只下载一次，offline（离线）模型随 mmbench 提供。状态行显示实际回答的模型。",
    },
    "model_label": {"en": "Model", "zh": "模型"},
    "model_status": {"en": "Model status", "zh": "模型状态"},
    "fallback_choice": {
        "en": "{answering} — answers for {requested}, which could not load",
        "zh": "{answering}——代替无法加载的 {requested} 回答",
    },
    "stopped": {"en": "Stopped.", "zh": "已停止。"},
    "nothing_to_stop": {"en": "Nothing to stop.", "zh": "没有正在运行的任务。"},
    "upload_error": {"en": "{what} {number} ({name}): {message}", "zh": "{what} {number}（{name}）：{message}"},
    "loading_model": {"en": "loading the model", "zh": "加载模型"},
    "loading_examples": {"en": "loading the example images", "zh": "加载示例图像"},
    "progress_loading_model": {"en": "Loading the model", "zh": "正在加载模型"},
}
