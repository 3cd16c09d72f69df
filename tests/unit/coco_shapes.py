"""A miniature COCO-format detection set: coloured squares, discs and triangles on grey noise.

``write_coco_shapes(root, ...)`` writes ``<root>/<split>/*.png`` and
``<root>/annotations/<split>.json`` (COCO's fields: images, annotations with ``[x, y, w, h]``
boxes, categories with non-contiguous ids) and returns the json paths. Test scaffolding.
"""
import json
import os

import numpy as np
from PIL import Image, ImageDraw

CATEGORIES = [{'id': 1, 'name': 'square'}, {'id': 3, 'name': 'disc'},
              {'id': 7, 'name': 'triangle'}]
COLOURS = {1: (220, 40, 40), 3: (40, 200, 60), 7: (50, 80, 230)}


def _draw(draw, cat, x, y, s):
    colour = COLOURS[cat]
    if cat == 1:
        draw.rectangle([x, y, x + s - 1, y + s - 1], fill=colour)
    elif cat == 3:
        draw.ellipse([x, y, x + s - 1, y + s - 1], fill=colour)
    else:
        draw.polygon([(x, y + s - 1), (x + s - 1, y + s - 1), (x + (s - 1) / 2., y)],
                     fill=colour)


def write_split(root, split, count, size, rng, max_objects=2, min_side=18, max_side=40):
    """Write ``count`` images of ``size`` (width, height); return the json path."""
    width, height = size
    os.makedirs(os.path.join(root, split), exist_ok=True)
    os.makedirs(os.path.join(root, 'annotations'), exist_ok=True)
    images, annotations = [], []
    for index in range(count):
        noise = rng.randint(90, 150, size=(height, width, 1)).repeat(3, axis=2)
        img = Image.fromarray(noise.astype(np.uint8))
        draw = ImageDraw.Draw(img)
        placed = []
        for _ in range(rng.randint(1, max_objects + 1)):
            for _attempt in range(20):
                s = int(rng.randint(min_side, max_side + 1))
                x, y = int(rng.randint(0, width - s)), int(rng.randint(0, height - s))
                if all(x + s <= px or px + ps <= x or y + s <= py or py + ps <= y
                       for px, py, ps in placed):
                    break
            else:
                continue
            placed.append((x, y, s))
            cat = CATEGORIES[rng.randint(len(CATEGORIES))]['id']
            _draw(draw, cat, x, y, s)
            annotations.append({'id': len(annotations) + 1, 'image_id': index + 1,
                                'category_id': cat, 'bbox': [x, y, s, s], 'area': s * s,
                                'iscrowd': 0})
        name = '%s_%04d.png' % (split, index)
        img.save(os.path.join(root, split, name))
        images.append({'id': index + 1, 'file_name': name, 'width': width, 'height': height})
    path = os.path.join(root, 'annotations', split + '.json')
    with open(path, 'w') as f:
        json.dump({'images': images, 'annotations': annotations, 'categories': CATEGORIES}, f)
    return path


def write_coco_shapes(root, train=8, val=4, size=(96, 64), seed=0, **kwargs):
    """Write a train and a val split; return ``(train_json, val_json)``."""
    rng = np.random.RandomState(seed)
    return (write_split(root, 'train', train, size, rng, **kwargs),
            write_split(root, 'val', val, size, rng, **kwargs))
