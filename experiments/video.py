"""The MP4 of a run: a furnace schematic beside setpoint-vs-actual plots, drawn with Pillow.

The video plays the whole recorded run (program and cool-down) at
EXPERIMENTS_VIDEO_SECONDS_PER_HOUR seconds per furnace hour (default 4), at least
EXPERIMENTS_VIDEO_MIN_SECONDS and at most EXPERIMENTS_VIDEO_MAX_SECONDS, 480x270 at
10 fps, H.264 with the ffmpeg that ships inside the imageio-ffmpeg wheel.
"""

import os
import secrets
import tempfile
from bisect import bisect_right

import imageio_ffmpeg
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from PIL import Image, ImageDraw, ImageFont

from .selectors import run_telemetry

WIDTH, HEIGHT, FPS = 480, 270, 10
BACKGROUND = (250, 250, 247)
INK = (40, 40, 40)
GRID = (215, 215, 210)
ZONE_A, ZONE_B = (214, 69, 65), (52, 101, 164)
AR_COLOUR, H2_COLOUR = (46, 139, 87), (170, 60, 170)
TEMPERATURE_PLOT = (205, 22, 472, 140)
FLOW_PLOT = (205, 168, 472, 250)


def video_duration_seconds(furnace_seconds):
    per_hour = settings.EXPERIMENTS_VIDEO_SECONDS_PER_HOUR
    low = settings.EXPERIMENTS_VIDEO_MIN_SECONDS
    high = settings.EXPERIMENTS_VIDEO_MAX_SECONDS
    return min(max(furnace_seconds / 3600.0 * per_hour, low), high)


def frame_count(furnace_seconds):
    return max(2, round(video_duration_seconds(furnace_seconds) * FPS))


def temperature_colour(celsius):
    """Dark grey when cold, through red and orange, to pale yellow at 1100 °C."""
    stops = [(25, (90, 90, 100)), (300, (180, 40, 30)), (700, (240, 120, 20)), (1100, (255, 240, 160))]
    if celsius <= stops[0][0]:
        return stops[0][1]
    for (t0, c0), (t1, c1) in zip(stops, stops[1:]):
        if celsius <= t1:
            f = (celsius - t0) / (t1 - t0)
            return tuple(round(a + (b - a) * f) for a, b in zip(c0, c1))
    return stops[-1][1]


def _font(size):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow built without FreeType
        return ImageFont.load_default()


class Plot:
    def __init__(self, box, t_max, y_min, y_max):
        self.box = box
        self.t_max = max(t_max, 1.0)
        pad = max((y_max - y_min) * 0.08, 1.0)
        self.y_min = max(0.0, y_min - pad) if y_min >= 0 else y_min - pad
        self.y_max = y_max + pad

    def xy(self, t, y):
        x0, y0, x1, y1 = self.box
        return (x0 + (x1 - x0) * t / self.t_max, y1 - (y1 - y0) * (y - self.y_min) / (self.y_max - self.y_min))

    def draw_axes(self, draw, font, label, unit):
        x0, y0, x1, y1 = self.box
        draw.rectangle(self.box, outline=GRID)
        for i in range(1, 4):
            y = y0 + (y1 - y0) * i / 4
            draw.line((x0, y, x1, y), fill=GRID)
        draw.text((x0 + 3, y0 - 13), label, fill=INK, font=font)
        draw.text((x0 - 3, y0), f"{self.y_max:.0f}", fill=INK, font=font, anchor="ra")
        draw.text((x0 - 3, y1), f"{self.y_min:.0f}", fill=INK, font=font, anchor="rd")
        draw.text((x1, y1 + 2), f"{self.t_max / 60:.0f} min", fill=INK, font=font, anchor="ra")
        draw.text((x0 - 3, (y0 + y1) / 2), unit, fill=INK, font=font, anchor="rm")


def _downsample(columns, points=400):
    n = len(columns["t"])
    if n <= points:
        return columns
    step = n / points
    picks = sorted({min(n - 1, round(i * step)) for i in range(points)} | {n - 1})
    return {name: [values[i] for i in picks] for name, values in columns.items()}


class FrameRenderer:
    def __init__(self, run, columns):
        self.run = run
        self.full = columns
        self.data = _downsample(columns)
        self.t = self.data["t"]
        t_max = self.t[-1]
        temps = self.data["temperature_a"] + self.data["temperature_b"] + self.data["setpoint_a"] + self.data["setpoint_b"]
        flows = self.data["ar_flow"] + self.data["h2_flow"] + self.data["ar_setpoint"] + self.data["h2_setpoint"]
        self.temperature_plot = Plot(TEMPERATURE_PLOT, t_max, min(temps), max(temps))
        self.flow_plot = Plot(FLOW_PLOT, t_max, 0.0, max(flows + [10.0]))
        self.font = _font(10)
        self.big_font = _font(12)
        self.background = self._background()

    def _background(self):
        image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
        draw = ImageDraw.Draw(image)
        self.temperature_plot.draw_axes(draw, self.font, "temperature: setpoint (thin) vs actual", "°C")
        self.flow_plot.draw_axes(draw, self.font, "gas flow", "sccm")
        program = self.run.program
        title = f"run {self.run.pk} · {program.get('experiment_id', '')}"
        draw.text((8, 6), title, fill=INK, font=self.big_font)
        precursors = f"A: {program.get('precursor_a') or '-'}  B: {program.get('precursor_b') or '-'}"
        draw.text((8, 22), precursors, fill=INK, font=self.font)
        draw.text((8, 34), f"substrate: {program.get('substrate', '')}", fill=INK, font=self.font)
        legend_y = 256
        for x, colour, text in ((205, ZONE_A, "zone A"), (260, ZONE_B, "zone B"), (315, AR_COLOUR, "Ar"), (350, H2_COLOUR, "H2")):
            draw.rectangle((x, legend_y + 3, x + 8, legend_y + 9), fill=colour)
            draw.text((x + 11, legend_y), text, fill=INK, font=self.font)
        return image

    def _series(self, plot, key, upto, width, colour, draw):
        points = [plot.xy(self.t[i], self.data[key][i]) for i in range(upto)]
        if len(points) >= 2:
            draw.line(points, fill=colour, width=width)

    def frame(self, t_now):
        image = self.background.copy()
        draw = ImageDraw.Draw(image)
        upto = max(1, bisect_right(self.t, t_now))
        for key, colour in (("setpoint_a", ZONE_A), ("setpoint_b", ZONE_B)):
            self._series(self.temperature_plot, key, upto, 1, colour, draw)
        for key, colour in (("temperature_a", ZONE_A), ("temperature_b", ZONE_B)):
            self._series(self.temperature_plot, key, upto, 2, colour, draw)
        self._series(self.flow_plot, "ar_flow", upto, 2, AR_COLOUR, draw)
        self._series(self.flow_plot, "h2_flow", upto, 2, H2_COLOUR, draw)
        x_now = self.temperature_plot.xy(t_now, 0)[0]
        draw.line((x_now, TEMPERATURE_PLOT[1], x_now, FLOW_PLOT[3]), fill=(150, 150, 150))
        self._schematic(draw, self._sample(t_now), t_now)
        return image

    def _sample(self, t_now):
        i = max(0, bisect_right(self.full["t"], t_now) - 1)
        return {name: values[i] for name, values in self.full.items()}

    def _schematic(self, draw, s, t_now):
        draw.text((8, 52), f"t = {t_now / 60:6.1f} min", fill=INK, font=self.big_font)
        # The quartz tube, gas entering from the left, substrate downstream on the right.
        tube = (22, 110, 188, 160)
        draw.rounded_rectangle(tube, radius=8, outline=INK, fill=(235, 240, 245))
        for box, temperature, power, label in (
            ((36, 98, 96, 172), s["temperature_a"], s["power_a"], "A"),
            ((104, 98, 164, 172), s["temperature_b"], s["power_b"], "B"),
        ):
            draw.rectangle(box, fill=temperature_colour(temperature), outline=INK)
            text_colour = (255, 255, 255) if temperature < 700 else INK
            draw.text(((box[0] + box[2]) / 2, box[1] + 12), f"zone {label}", fill=text_colour, font=self.font, anchor="mm")
            draw.text(((box[0] + box[2]) / 2, box[1] + 36), f"{temperature:.0f} °C", fill=text_colour, font=self.big_font, anchor="mm")
            bar = max(0.0, min(1.0, power / 1500.0))
            draw.rectangle((box[0], box[3] + 4, box[0] + (box[2] - box[0]) * bar, box[3] + 8), fill=(230, 140, 30))
            draw.text((box[0], box[3] + 10), f"{power:.0f} W", fill=INK, font=self.font)
        draw.rectangle((170, 128, 184, 142), fill=(120, 120, 140), outline=INK)  # substrate
        draw.text((177, 96), "sub", fill=INK, font=self.font, anchor="mm")
        # Inlet arrows, their length showing the flow.
        for y, flow, colour, name, maximum in (
            (124, s["ar_flow"], AR_COLOUR, "Ar", self.run.furnace.ar_max_sccm),
            (146, s["h2_flow"], H2_COLOUR, "H2", self.run.furnace.h2_max_sccm),
        ):
            length = 4 + 14 * max(0.0, min(1.0, flow / max(maximum, 1.0)))
            draw.line((20 - length, y, 22, y), fill=colour, width=3)
            draw.polygon(((22, y), (17, y - 3), (17, y + 3)), fill=colour)
        draw.text((8, 196), f"Ar {s['ar_flow']:.0f} sccm", fill=AR_COLOUR, font=self.font)
        draw.text((8, 208), f"H2 {s['h2_flow']:.1f} sccm", fill=H2_COLOUR, font=self.font)
        heaters = "heaters ON" if s["heaters"] else "heaters OFF"
        draw.text((8, 222), heaters, fill=(200, 60, 20) if s["heaters"] else INK, font=self.font)


def render_run_video(run):
    """Render the run's video from its telemetry into default_storage; return the storage name."""
    columns = run_telemetry(run)
    if not columns["t"]:
        raise ValueError("no telemetry recorded")
    renderer = FrameRenderer(run, columns)
    total = columns["t"][-1]
    frames = frame_count(total)
    handle, path = tempfile.mkstemp(suffix=".mp4", dir=settings.FILE_UPLOAD_TEMP_DIR)
    os.close(handle)
    try:
        writer = imageio_ffmpeg.write_frames(
            path, (WIDTH, HEIGHT), fps=FPS, codec="libx264", pix_fmt_in="rgb24", pix_fmt_out="yuv420p",
            macro_block_size=1, ffmpeg_log_level="error", output_params=["-movflags", "+faststart", "-crf", "28"],
        )
        writer.send(None)
        for k in range(frames):
            writer.send(renderer.frame(total * k / (frames - 1)).tobytes())
        writer.close()
        with open(path, "rb") as handle_:
            return default_storage.save(f"experiments/videos/run-{run.pk}-{secrets.token_hex(16)}.mp4", File(handle_))
    finally:
        os.unlink(path)
